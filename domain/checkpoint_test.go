package domain_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
)

func TestCheckpointRootShape(t *testing.T) {
	t.Parallel()
	d := strings.Repeat("ab", 32)
	h := func(agg string) domain.ChainHead { return domain.ChainHead{Aggregate: agg, Version: 1, Digest: d} }
	leaf := func(agg string) [32]byte {
		l, err := domain.CheckpointLeaf(h(agg))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	node := func(l, r [32]byte) [32]byte { return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...)) }
	empty := sha256.Sum256(nil)
	a, b, c := leaf("platform/a"), leaf("platform/b"), leaf("platform/c")
	tests := []struct {
		name  string
		heads []domain.ChainHead
		want  [32]byte
	}{
		{"empty", nil, empty},
		{"one leaf is the root", []domain.ChainHead{h("platform/a")}, a},
		{"sorted by aggregate", []domain.ChainHead{h("platform/b"), h("platform/a")}, node(a, b)},
		// RFC 6962: three leaves split 2 + 1.
		{"three leaves", []domain.ChainHead{h("platform/c"), h("platform/a"), h("platform/b")}, node(node(a, b), c)},
	}
	for _, tt := range tests {
		got, err := domain.CheckpointRoot(tt.heads)
		if err != nil || got != hex.EncodeToString(tt.want[:]) {
			t.Errorf("%s: root = %s, %v; want %x", tt.name, got, err, tt.want)
		}
	}
	if _, err := domain.CheckpointRoot([]domain.ChainHead{h("platform/a"), h("platform/a")}); domain.ErrorCode(err) != domain.EINVALID {
		t.Errorf("a repeated aggregate: %v, want EINVALID", err)
	}
	if _, err := domain.CheckpointRoot([]domain.ChainHead{{Aggregate: "platform/a", Digest: "xyz"}}); domain.ErrorCode(err) != domain.EINVALID {
		t.Errorf("a bad digest: %v, want EINVALID", err)
	}
}

func TestCheckpointSignatureCoversEveryField(t *testing.T) {
	t.Parallel()
	pub, priv, _ := ed25519.GenerateKey(nil)
	cp := domain.Checkpoint{Format: domain.CheckpointFormat, Stream: "LEDGER", LastSeq: 42, Time: time.Date(2026, 11, 27, 20, 0, 0, 5, time.UTC),
		Aggregates: 7, Events: 42, Root: strings.Repeat("0f", 32), LegacyUnmarked: 3, Foreign: []uint64{17, 23}, KeyID: "ledger-0a1b2c3d"}
	want := "licledger-checkpoint/1\nstream LEDGER\nlast_seq 42\ntime 2026-11-27T20:00:00.000000005Z\naggregates 7\nevents 42\nroot " +
		strings.Repeat("0f", 32) + "\nlegacy_unmarked 3\nforeign 17,23\nkey_id ledger-0a1b2c3d\n"
	if got := string(cp.SignedBytes()); got != want {
		t.Fatalf("signed bytes:\n%s\nwant:\n%s", got, want)
	}
	cp.Signature = base64.RawURLEncoding.EncodeToString(ed25519.Sign(priv, cp.SignedBytes()))
	if err := cp.VerifySignature(pub); err != nil {
		t.Fatalf("a good signature: %v", err)
	}
	tamper := map[string]func(c *domain.Checkpoint){
		"stream":          func(c *domain.Checkpoint) { c.Stream = "OTHER" },
		"last_seq":        func(c *domain.Checkpoint) { c.LastSeq-- },
		"time":            func(c *domain.Checkpoint) { c.Time = c.Time.Add(time.Nanosecond) },
		"aggregates":      func(c *domain.Checkpoint) { c.Aggregates++ },
		"events":          func(c *domain.Checkpoint) { c.Events++ },
		"root":            func(c *domain.Checkpoint) { c.Root = strings.Repeat("00", 32) },
		"legacy_unmarked": func(c *domain.Checkpoint) { c.LegacyUnmarked = 0 },
		"foreign":         func(c *domain.Checkpoint) { c.Foreign = []uint64{17} },
		"key_id":          func(c *domain.Checkpoint) { c.KeyID = "ledger-ffffffff" },
		"format":          func(c *domain.Checkpoint) { c.Format = "licledger-checkpoint/0" },
	}
	for name, f := range tamper {
		c := cp
		f(&c)
		if err := c.VerifySignature(pub); domain.ErrorCode(err) != domain.EINVALID {
			t.Errorf("%s changed: %v, want EINVALID", name, err)
		}
	}
}
