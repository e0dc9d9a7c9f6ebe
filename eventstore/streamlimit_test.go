package eventstore_test

import (
	"testing"

	"github.com/licledger/licledger/eventstore/eventstoretest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// An operator's byte limit on the stream (its disk quota) survives a
// restart of the ledger; Open used to reset it to unlimited.
func TestOpenKeepsAnOperatorsByteLimit(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	url := eventstoretest.MustRunJetStream(t)
	first := eventstoretest.MustOpenStore(t, eventstoretest.WithURL(url))
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := first.StreamConfig()
	cfg.MaxBytes = 64 << 20
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	eventstoretest.MustOpenStore(t, eventstoretest.WithURL(url))
	stream, err := js.Stream(ctx, cfg.Name)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stream.CachedInfo().Config.MaxBytes, int64(64<<20); got != want {
		t.Errorf("MaxBytes after reopening %d, want %d", got, want)
	}
}
