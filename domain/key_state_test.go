package domain

import "testing"

// The USB key state table of rules.md §3, row by row, with the key that
// authorizes (R16: the earliest inserted among those still inserted; R17:
// none in fault).
func TestKeyStateTable(t *testing.T) {
	tests := []struct {
		row      string
		nodes    []string
		keys     [][2]string // (node, key) in insertion order
		pullAll  bool        // insert the keys, then pull them all
		want     string
		wantAuth string
	}{
		{"never inserted", []string{"mn-1"}, nil, false, KeyStateNone, ""},
		{"1 node: 0 (a key was inserted before)", []string{"mn-1"}, [][2]string{{"mn-1", "K-1"}}, true, KeyStateMissing, ""},
		{"1 node: 1", []string{"mn-1"}, [][2]string{{"mn-1", "K-1"}}, false, KeyStateReady, "K-1"},
		{"1 node: 2", []string{"mn-1"}, [][2]string{{"mn-1", "K-1"}, {"mn-1", "K-2"}}, false, KeyStateFault, ""},
		{"1 node: 3", []string{"mn-1"}, [][2]string{{"mn-1", "K-1"}, {"mn-1", "K-2"}, {"mn-1", "K-3"}}, false, KeyStateFault, ""},
		{"2 nodes: 1 and 0", []string{"mn-1", "mn-2"}, [][2]string{{"mn-1", "K-1"}}, false, KeyStateReady, "K-1"},
		{"2 nodes: 0 and 1", []string{"mn-1", "mn-2"}, [][2]string{{"mn-2", "K-1"}}, false, KeyStateReady, "K-1"},
		{"2 nodes: 0 and 0 (a key was inserted before)", []string{"mn-1", "mn-2"}, [][2]string{{"mn-1", "K-1"}, {"mn-2", "K-2"}}, true, KeyStateMissing, ""},
		{"2 nodes: 1 and 1", []string{"mn-1", "mn-2"}, [][2]string{{"mn-2", "K-2"}, {"mn-1", "K-1"}}, false, KeyStateAbnormal, "K-2"},
		{"2 nodes: 1 and 2", []string{"mn-1", "mn-2"}, [][2]string{{"mn-1", "K-1"}, {"mn-2", "K-2"}, {"mn-2", "K-3"}}, false, KeyStateAbnormal, "K-1"},
		{"2 nodes: 2 and 1, earliest on the crowded node", []string{"mn-1", "mn-2"}, [][2]string{{"mn-1", "K-1"}, {"mn-1", "K-2"}, {"mn-2", "K-3"}}, false, KeyStateAbnormal, "K-1"},
		{"2 nodes: 1 and 3", []string{"mn-1", "mn-2"}, [][2]string{{"mn-1", "K-1"}, {"mn-2", "K-2"}, {"mn-2", "K-3"}, {"mn-2", "K-4"}}, false, KeyStateAbnormal, "K-1"},
		{"2 nodes: 2 and 0", []string{"mn-1", "mn-2"}, [][2]string{{"mn-1", "K-1"}, {"mn-1", "K-2"}}, false, KeyStateFault, ""},
		{"2 nodes: 2 and 2", []string{"mn-1", "mn-2"}, [][2]string{{"mn-1", "K-1"}, {"mn-1", "K-2"}, {"mn-2", "K-3"}, {"mn-2", "K-4"}}, false, KeyStateFault, ""},
	}
	for _, tt := range tests {
		t.Run(tt.row, func(t *testing.T) {
			h := newHistory(t, "keys", tt.nodes...)
			for i, k := range tt.keys {
				h.do(day(float64(i+1)), InsertUSBKey{Node: k[0], KeyID: k[1], Licenses: []License{ent16("L-" + k[1])}})
			}
			if tt.pullAll {
				for i, k := range tt.keys {
					h.do(day(float64(10+i)), RemoveUSBKey{Node: k[0], KeyID: k[1]})
				}
			}
			got := h.at(day(20)).USBKey
			if got.State != tt.want {
				t.Fatalf("state = %q, want %q", got.State, tt.want)
			}
			if _, auth := h.s.keyTable(); auth != tt.wantAuth {
				t.Fatalf("authorizing key = %q, want %q", auth, tt.wantAuth)
			}
			if got.Inserted == nil {
				t.Fatal("inserted is null, want a list")
			}
		})
	}
}

// R16: in abnormal the authorizing key's licenses apply and the other
// key's are ignored; when it leaves, the other authorizes (and R21 voids
// the first key's buffer at once).
func TestAbnormalIsHarmless(t *testing.T) {
	h := newHistory(t, "r16", "mn-1", "mn-2")
	h.do(day(1), InsertUSBKey{Node: "mn-1", KeyID: "K-1", Licenses: []License{ent16("L-1"), plusLic("L-1V", ModuleVMware, 8, day(0), day(365))}})
	h.do(day(2), InsertUSBKey{Node: "mn-2", KeyID: "K-2", Licenses: []License{baseLic("L-2", EditionStandard, 4, day(0), day(365))}})
	ent := h.at(day(3))
	if got, want := line(ent.USBKey.State, ent.Status, ent.Base.License, ent.Modules[ModuleVMware].Entitled), "abnormal licensed L-1 true"; got != want {
		t.Fatalf("abnormal: got %s, want %s", got, want)
	}
	h.do(day(4), RemoveUSBKey{Node: "mn-1", KeyID: "K-1"})
	ent = h.at(day(5))
	if got, want := line(ent.USBKey.State, ent.Status, ent.Base.License, ent.Modules[ModuleVMware].Reason, ent.USBKey.ActiveKey), "ready licensed L-2 source-unavailable K-2"; got != want {
		t.Fatalf("after K-1 leaves: got %s, want %s", got, want)
	}
}
