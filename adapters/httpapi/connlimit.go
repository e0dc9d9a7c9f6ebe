package httpapi

import (
	"encoding/json"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/licledger/licledger/domain"
)

// DefaultMaxConnections is Config.MaxConnections when unset: far above
// what the ledger's clients need at once, far below the file descriptors
// a process gets, so slow or idle clients cannot starve the others.
const DefaultMaxConnections = 1024

// busyRetryAfter is the Retry-After, in seconds, of a connection turned
// away: slow connections end within ReadTimeout, idle ones within
// IdleTimeout, most much sooner.
const busyRetryAfter = 2

// Listener wraps ln so the server holds at most Config.MaxConnections
// connections at once. The HTTP timeouts bound how long one slow client
// holds a connection; this bounds how many it can hold together. A
// connection beyond the cap is accepted and answered at once with 503
// server-busy and Retry-After, in the one error shape, and closed: the
// client learns why and when to come back instead of hanging in the
// kernel's accept queue (which is what a listener that stops accepting,
// like x/net/netutil's, gives it).
func (s *Server) Listener(ln net.Listener) net.Listener {
	return &limitListener{Listener: ln, max: int64(s.cfg.MaxConnections), log: s}
}

type limitListener struct {
	net.Listener
	max    int64
	open   atomic.Int64 // connections handed to the server and not closed
	busy   atomic.Int64 // connections being turned away
	log    *Server
	warned atomic.Bool
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) <= l.max {
			l.warned.Store(false)
			return &limitConn{Conn: c, release: func() { l.open.Add(-1) }}, nil
		}
		l.open.Add(-1)
		l.log.metrics.observe("connection limit", 503, domain.ReasonServerBusy, 0)
		if !l.warned.Swap(true) {
			l.log.log.Warn("HTTP connection limit reached: turning connections away with 503 server-busy", "max_connections", l.max)
		}
		// Answer off the accept loop, and at most max answers at a
		// time: past that, a flood gets the connection closed unread.
		if l.busy.Add(1) > l.max {
			l.busy.Add(-1)
			c.Close()
			continue
		}
		go func() {
			defer l.busy.Add(-1)
			turnAway(c)
		}()
	}
}

// busyResponse is the whole HTTP answer to a connection over the cap.
var busyResponse = func() []byte {
	body, _ := json.Marshal(ErrorBody{Error: ErrorDetail{Code: domain.EUNAVAILABLE, Reason: domain.ReasonServerBusy,
		Message: "the server holds its maximum of concurrent connections; retry after Retry-After seconds"}})
	body = append(body, '\n')
	return []byte("HTTP/1.1 503 Service Unavailable\r\n" +
		"Content-Type: application/json\r\n" +
		"X-Content-Type-Options: nosniff\r\n" +
		"Retry-After: " + strconv.Itoa(busyRetryAfter) + "\r\n" +
		"Connection: close\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + string(body))
}()

// turnAway answers c with busyResponse and closes it, all within a
// second. It reads what the client sent first (briefly), so closing
// with unread data does not reset the connection before the client has
// read the answer.
func turnAway(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	buf := make([]byte, 4096)
	c.Read(buf)
	c.Write(busyResponse)
	if tc, ok := c.(interface{ CloseWrite() error }); ok {
		tc.CloseWrite()
	}
}

// limitConn gives its slot back once, however often it is closed.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
