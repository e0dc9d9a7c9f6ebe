package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/licledger/licledger/domain"
)

// R32: a platform's read side at a past log position, built from the
// prefix of its history, answers what the live database answered when it
// stood at that position: the platform, its license inventory and its USB
// keys, for every position of the log.
func TestPlatformSnapshotEqualsTheLiveDatabaseThen(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	history(l)
	ctx := context.Background()
	live := openDB(t, "live.db")
	catchUp(t, live, l.store)
	q := NewQueries(live)
	at := t0.AddDate(1, 0, 0)
	render := func(q *Queries, id string) string {
		t.Helper()
		p, err := q.DB().GetPlatform(ctx, id)
		if domain.ErrorCode(err) == domain.ENOTFOUND {
			return "not found"
		}
		if err != nil {
			t.Fatal(err)
		}
		lics, seq, err := q.DB().LicensesSeq(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := q.USBKeys(ctx, id, at)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal([]any{p, lics, seq, keys})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for seq := uint64(1); seq <= l.lastSeq(); seq++ {
		then, _, err := Build(ctx, l.store, filepath.Join(t.TempDir(), fmt.Sprintf("then-%d.db", seq)), seq, slog.New(slog.DiscardHandler), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"acme", "beta"} {
			want := render(NewQueries(then), id)
			snap, err := q.PlatformSnapshot(ctx, id, at, seq, false, t.TempDir())
			got := "not found"
			if err == nil {
				got = render(snap.Queries, id)
				snap.Close()
			} else if domain.ErrorCode(err) != domain.ENOTFOUND {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%s at seq %d:\n got %s\nwant %s", id, seq, got, want)
			}
		}
		then.Close()
	}
}
