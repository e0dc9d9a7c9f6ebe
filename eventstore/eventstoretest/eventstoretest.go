// Package eventstoretest gives tests a real event store: an embedded
// nats-server with JetStream file storage in a temporary directory, shut
// down when the test ends. No mocks: what passes here passes in production.
package eventstoretest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/licledger/licledger/eventstore"
	"github.com/nats-io/nats-server/v2/server"
)

// Option adjusts the Config MustOpenStore opens with.
type Option func(*eventstore.Config)

// WithClock injects the ledger clock.
func WithClock(now func() time.Time) Option { return func(c *eventstore.Config) { c.Now = now } }

// WithLogger sets the store's logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(c *eventstore.Config) { c.Logger = l } }

// WithDataDir opens the store on dir instead of a fresh t.TempDir(), e.g.
// to reopen the same data after Close.
func WithDataDir(dir string) Option { return func(c *eventstore.Config) { c.DataDir = dir } }

// WithURL connects to an external server (see MustRunJetStream) instead of
// embedding one, e.g. to run two stores on one stream like two processes.
func WithURL(url string) Option { return func(c *eventstore.Config) { c.URL = url } }

// Mutable lets the test delete and purge messages to simulate tampering.
func Mutable() Option { return func(c *eventstore.Config) { c.Mutable = true } }

// WithConfig applies any other change to the Config.
func WithConfig(f func(*eventstore.Config)) Option { return Option(f) }

// MustOpenStore opens an event store on a fresh temporary directory (an
// embedded server, no TCP port) and closes it when the test ends.
func MustOpenStore(t testing.TB, opts ...Option) *eventstore.Store {
	t.Helper()
	cfg := eventstore.Config{
		DataDir: t.TempDir(),
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := eventstore.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open event store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close event store: %v", err)
		}
	})
	return s
}

// MustRunJetStream starts a standalone nats-server with JetStream on a
// random local port, storing in a temporary directory, and returns its
// client URL. It shuts down when the test ends. Several stores (or raw
// clients) connecting to the URL share one stream, like processes do.
func MustRunJetStream(t testing.TB) string {
	t.Helper()
	return MustRunJetStreamServer(t).ClientURL()
}

// MustRunJetStreamServer is MustRunJetStream for a test that must control
// the server itself (stop it under a running ledger, say); shutting it
// down early is fine, the cleanup does it again harmlessly.
func MustRunJetStreamServer(t testing.TB) *server.Server {
	t.Helper()
	srv, err := server.NewServer(&server.Options{
		ServerName: "licledger-test",
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		JetStream:  true,
		StoreDir:   t.TempDir(),
		NoSigs:     true,
		NoLog:      true,
	})
	if err != nil {
		t.Fatalf("configure nats-server: %v", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		t.Fatal("nats-server did not start within 30s")
	}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv
}

// SyncBuffer is a bytes.Buffer that a logger or a running command may
// write to from many goroutines while the test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
