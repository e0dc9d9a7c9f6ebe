package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
)

// Slow clients cannot hold more than MaxConnections connections: one
// beyond the cap is answered at once with 503 server-busy, Retry-After and
// the one error shape (not left hanging), and once a slow client goes,
// its slot serves the next client.
func TestConnectionCapTurnsAwaySlowClientsExcess(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.MaxConnections = 2 })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := e.api.HTTPServer()
	go hs.Serve(e.api.Listener(ln))
	t.Cleanup(func() { hs.Close() })
	base := "http://" + ln.Addr().String()

	// Two slow clients: each sends headers promising a body it never sends.
	var slow []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := io.WriteString(c, "POST /v1/platforms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"); err != nil {
			t.Fatal(err)
		}
		slow = append(slow, c)
	}

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	get := func() (*http.Response, []byte, error) {
		resp, err := client.Get(base + "/healthz")
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, b, err
	}
	// The slow clients' connections are accepted asynchronously: wait
	// until both hold their slot, which turns the next client away.
	var resp *http.Response
	var body []byte
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, body, err = get()
		if err != nil {
			t.Fatalf("a client over the cap got no answer: %v", err)
		}
		if resp.StatusCode == http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond) // polls the server's accept loop
	}
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("with 2 slow clients holding the cap of 2: status %d, want 503", resp.StatusCode)
	}
	var eb ErrorBody
	if err := json.Unmarshal(body, &eb); err != nil {
		t.Fatalf("503 body %q: %v", body, err)
	}
	if eb.Error.Code != domain.EUNAVAILABLE || eb.Error.Reason != domain.ReasonServerBusy {
		t.Errorf("503 error %+v, want %s/%s", eb.Error, domain.EUNAVAILABLE, domain.ReasonServerBusy)
	}
	if got := resp.Header.Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After %q, want 2", got)
	}

	// A slow client goes: its slot is free for the next one.
	slow[0].Close()
	deadline = time.Now().Add(10 * time.Second)
	for {
		resp, _, err = get()
		if err == nil && resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a slow client left: %v %v, want 200", resp, err)
		}
		time.Sleep(10 * time.Millisecond) // polls the server closing the connection
	}
	m := string(e.do("GET", "/metrics", "", nil).body)
	if want := `reason="server-busy",route="connection limit"`; !strings.Contains(m, want) {
		t.Errorf("metrics lack %q", want)
	}
	// The slow client still connected is cut off by the read timeout, not
	// by the cap: it still holds its connection.
	slow[1].SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err = slow[1].Read(make([]byte, 1))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("the remaining slow client's connection: %v, want still open (a read timeout)", err)
	}
}
