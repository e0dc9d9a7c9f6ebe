package eventstore

import (
	"bytes"
	"context"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// lockedBuffer is a log sink that many goroutines may write to.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func openInternal(t *testing.T, logs *lockedBuffer) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, Config{DataDir: t.TempDir(), Mutable: true,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func hostEvent(t *testing.T, agg domain.Aggregate, host string) domain.Event {
	t.Helper()
	e, err := domain.NewEvent(agg.String(), domain.EventHostAdded, domain.HostAdded{Host: host, Hypervisor: domain.HypervisorKVM, Sockets: 2})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Load gives the same answer on every path: a batched direct get from a
// replica, the stream leader one message at a time (a stream without
// direct get), and a replica that seems behind this store's last append
// (asked again, then the leader reads the rest). Histories that are
// damaged fail closed on every path.
func TestLoadPaths(t *testing.T) {
	t.Parallel()
	acme, other, broken, gap, nobody := domain.Aggregate{Kind: domain.KindPlatform, ID: "acme"},
		domain.Aggregate{Kind: domain.KindPlatform, ID: "other"},
		domain.Aggregate{Kind: domain.KindPlatform, ID: "broken"},
		domain.Aggregate{Kind: domain.KindPlatform, ID: "gap"},
		domain.Aggregate{Kind: domain.KindPlatform, ID: "nobody"}

	paths := []struct {
		name string
		// prepare runs after the history is written.
		prepare func(s *Store)
		// logged is what the path must have logged, if anything.
		logged string
	}{
		{"direct get", func(*Store) {}, ""},
		{"stream leader", func(s *Store) { s.direct.Store(false) }, ""},
		{"replica behind", func(s *Store) {
			for _, agg := range []domain.Aggregate{acme, broken, gap, nobody} {
				s.heads.advance(subjectOf(agg), head{seq: 1 << 40})
			}
		}, "replica behind"},
	}
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			var logs lockedBuffer
			s := openInternal(t, &logs)
			ctx := context.Background()
			var want []Record
			for _, step := range []struct {
				agg      domain.Aggregate
				expected uint64
				hosts    []string
			}{
				{acme, 0, []string{"h-1"}},
				{other, 0, []string{"h-1"}},
				{acme, 1, []string{"h-2", "h-3"}},
				{broken, 0, []string{"h-1"}},
				{gap, 0, []string{"h-1"}},
			} {
				events := make([]domain.Event, len(step.hosts))
				for i, h := range step.hosts {
					events[i] = hostEvent(t, step.agg, h)
				}
				recs, err := s.Append(ctx, step.agg, step.expected, events...)
				if err != nil {
					t.Fatal(err)
				}
				if step.agg == acme {
					want = append(want, recs...)
				}
			}
			// Behind the store's back: garbage on one aggregate, a
			// version that skips one on another.
			if _, err := s.js.Publish(ctx, subjectOf(broken), []byte("not an event")); err != nil {
				t.Fatal(err)
			}
			skip := hostEvent(t, gap, "h-3")
			skip.SpecVersion, skip.ID, skip.Source, skip.Time, skip.AggregateVersion, skip.SchemaVersion =
				domain.SpecVersion, "01J00000000000000000000009", "evil", time.Now().UTC(), 3, domain.SchemaVersion
			raw, err := skip.Canonical()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.js.Publish(ctx, subjectOf(gap), raw); err != nil {
				t.Fatal(err)
			}
			p.prepare(s)

			tests := []struct {
				name string
				agg  domain.Aggregate
				want []Record
				code string
			}{
				{"interleaved with another aggregate, one batch", acme, want, ""},
				{"no events", nobody, nil, ""},
				{"malformed message", broken, nil, domain.EINTERNAL},
				{"version gap", gap, nil, domain.EINTERNAL},
			}
			for _, tt := range tests {
				got, err := s.Load(ctx, tt.agg)
				if code := domain.ErrorCode(err); code != tt.code {
					t.Errorf("%s: Load error %v, want code %q", tt.name, err, tt.code)
					continue
				}
				if len(got) != 0 || len(tt.want) != 0 {
					if !reflect.DeepEqual(got, tt.want) {
						t.Errorf("%s: Load =\n%+v\nwant\n%+v", tt.name, got, tt.want)
					}
				}
			}
			if p.logged != "" && !strings.Contains(logs.String(), p.logged) {
				t.Errorf("log does not show %q:\n%s", p.logged, logs.String())
			}
		})
	}
}

// laggingReplica answers the direct get of a subject's last message as a
// replica that is behind would: with err (jetstream.ErrMsgNotFound: it
// has applied nothing yet; nats.ErrNoResponders: no replica serves
// direct gets yet, as on a stream created a moment ago).
type laggingReplica struct {
	jetstream.Stream
	err error
}

func (r laggingReplica) GetLastMsgForSubject(context.Context, string) (*jetstream.RawStreamMsg, error) {
	return nil, r.err
}

// A replica behind the caller never makes Append refuse or fail: when the
// head it answers is older than the version the caller saw, or no replica
// answers, Append asks the stream leader, and appends after the real head.
func TestAppendConfirmsAnOldHeadWithTheLeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		replica error
	}{
		{"replica applied nothing yet", jetstream.ErrMsgNotFound},
		{"no replica answers direct gets yet", nats.ErrNoResponders},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs lockedBuffer
			s := openInternal(t, &logs)
			ctx := context.Background()
			agg := domain.Aggregate{Kind: domain.KindPlatform, ID: "acme"}
			if _, err := s.Append(ctx, agg, 0, hostEvent(t, agg, "h-1"), hostEvent(t, agg, "h-2")); err != nil {
				t.Fatal(err)
			}
			s.heads.invalidate(subjectOf(agg), head{seq: 1 << 40}) // as another process: nothing cached
			s.stream = laggingReplica{s.stream, tt.replica}

			recs, err := s.Append(ctx, agg, 2, hostEvent(t, agg, "h-3"))
			if err != nil {
				t.Fatalf("append at the version the caller saw, with a replica behind: %v", err)
			}
			if got, want := recs[0].Event.AggregateVersion, uint64(3); got != want {
				t.Fatalf("appended version %d, want %d", got, want)
			}
			if v, err := s.Version(ctx, agg); err != nil || v != 3 {
				t.Fatalf("Version = %d, %v; want 3", v, err)
			}
			// A caller that really is behind still gets the conflict.
			_, err = s.Append(ctx, agg, 1, hostEvent(t, agg, "h-x"))
			if domain.ErrorReason(err) != domain.ReasonConcurrentUpdate {
				t.Fatalf("stale append: %v, want a concurrent-update conflict", err)
			}
		})
	}
}
