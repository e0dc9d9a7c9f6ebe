package eventstore

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
)

// On "no space left on device" nats-server shuts JetStream down
// (ShutdownJetStream), and it stays down when space comes back. The
// embedded store starts it again on the next command, in place: the
// command is answered, not refused, and nothing stored before is lost.
func TestEmbeddedJetStreamShutDownIsStartedAgain(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, Config{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	agg := domain.Aggregate{Kind: domain.KindPlatform, ID: "acme"}
	event := func(host string) domain.Event {
		e, err := domain.NewEvent(agg.String(), domain.EventHostAdded, domain.HostAdded{Host: host, Hypervisor: domain.HypervisorKVM, Sockets: 2})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	if _, err := s.Append(ctx, agg, 0, event("h-1")); err != nil {
		t.Fatal(err)
	}

	// What the server does on ENOSPC (stream.go, jetstream.go).
	if err := s.srv.ShutdownJetStream(); err != nil {
		t.Fatal(err)
	}
	if s.srv.JetStreamEnabled() {
		t.Fatal("JetStream still enabled after ShutdownJetStream")
	}
	if _, err := s.Append(ctx, agg, 1, event("h-2")); err != nil {
		t.Fatalf("append after JetStream was shut down and the disk has room: %v", err)
	}
	if err := s.Health(ctx); err != nil {
		t.Errorf("Health after the restart: %v", err)
	}
	recs, err := s.Load(ctx, agg)
	if err != nil || len(recs) != 2 {
		t.Fatalf("Load = %d events, %v; want both", len(recs), err)
	}
}
