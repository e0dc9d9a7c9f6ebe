package eventstore

import (
	"fmt"
	"testing"
)

func TestHeadsCache(t *testing.T) {
	t.Parallel()
	var h heads
	h.advance("a", head{seq: 5, version: 2})
	h.advance("a", head{seq: 3, version: 1}) // an older append recorded late: ignored
	if got, _ := h.get("a"); got.seq != 5 {
		t.Fatalf("head = %+v, want seq 5 kept", got)
	}
	h.invalidate("a", head{seq: 4}) // a conflict on an older head leaves the newer one
	if _, ok := h.get("a"); !ok {
		t.Fatal("a newer head was invalidated by a stale conflict")
	}
	h.invalidate("a", head{seq: 5})
	if _, ok := h.get("a"); ok {
		t.Fatal("the head used by a conflicting append was kept")
	}
	for i := range maxHeads + 1 {
		h.advance(fmt.Sprint(i), head{seq: uint64(i)})
	}
	if n := len(h.m); n > maxHeads {
		t.Fatalf("cache holds %d heads, bound is %d", n, maxHeads)
	}
}
