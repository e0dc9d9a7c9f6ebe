package eventstoretest

import (
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Proxy is a TCP proxy in front of a NATS server that a test can freeze:
// while frozen it passes no byte either way and closes nothing, like a
// server that stopped answering or a network that silently drops
// packets. Clients connect to URL. Safe for concurrent use.
type Proxy struct {
	t      testing.TB
	target string // host:port
	ln     net.Listener

	mu     sync.Mutex
	frozen bool
	thawed *sync.Cond
	conns  []net.Conn
	closed bool
}

// MustRunProxy starts a proxy to the server at target (a nats:// URL, or
// the first of a comma-separated list) and stops it when the test ends.
func MustRunProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	first, _, _ := strings.Cut(target, ",")
	u, err := url.Parse(first)
	if err != nil || u.Host == "" {
		t.Fatalf("proxy target %q: not a nats:// URL", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &Proxy{t: t, target: u.Host, ln: ln}
	p.thawed = sync.NewCond(&p.mu)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// URL is where clients connect.
func (p *Proxy) URL() string { return "nats://" + p.ln.Addr().String() }

// Freeze stops all traffic through the proxy until Thaw.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frozen = true
}

// Thaw lets traffic through again; what was held back is delivered.
func (p *Proxy) Thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frozen = false
	p.thawed.Broadcast()
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			s.Close()
			return
		}
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		go p.pipe(s, c)
		go p.pipe(c, s)
	}
}

// pipe copies src to dst, holding each chunk while the proxy is frozen.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.wait() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // io.EOF too: the other side closed
			return
		}
	}
}

// wait blocks while frozen; false once the proxy is closed.
func (p *Proxy) wait() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.frozen && !p.closed {
		p.thawed.Wait()
	}
	return !p.closed
}

func (p *Proxy) close() {
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.thawed.Broadcast()
	p.mu.Unlock()
	p.ln.Close()
	for _, c := range conns {
		c.Close()
	}
}
