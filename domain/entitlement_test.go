package domain

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// brief condenses an entitlement for comparisons: status, the Base's
// license, the key state with the buffer, then each named module as
// license (entitled) or !reason.
func brief(e Entitlement, modules ...string) string {
	var b strings.Builder
	b.WriteString(e.Status)
	if e.Base != nil {
		b.WriteString(" base=" + e.Base.License)
	}
	b.WriteString(" key=" + e.USBKey.State)
	if e.USBKey.Buffer != "" {
		b.WriteString(" buffer=" + e.USBKey.Buffer)
		if e.USBKey.BufferExpiresAt != nil {
			b.WriteString("@" + e.USBKey.BufferExpiresAt.Format("01-02"))
		}
	}
	for _, m := range modules {
		me := e.Modules[m]
		if me.Entitled {
			b.WriteString(" " + m + "=" + me.License)
		} else {
			b.WriteString(" " + m + "=!" + me.Reason)
		}
	}
	return b.String()
}

type check struct {
	at   time.Time
	want string
}

// scenario is a history built by steps, checked at instants: each check
// evaluates the prefix of the history up to its instant. day(n) is n days
// after 1 January 2026, so day(31) is 1 February.
type scenario struct {
	name    string
	nodes   []string
	steps   func(h *history)
	modules []string
	checks  []check
}

func runScenarios(t *testing.T, tests []scenario) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHistory(t, "p", tt.nodes...)
			tt.steps(h)
			for _, c := range tt.checks {
				s, err := PlatformAsOf(h.events, "p", c.at)
				if err != nil {
					t.Fatal(err)
				}
				if got := brief(PlatformEntitlement(s, c.at), tt.modules...); got != c.want {
					t.Errorf("at %s:\n got %s\nwant %s", c.at.Format("01-02T15:04"), got, c.want)
				}
			}
		})
	}
}

func rc(h *history, at time.Time, l ...License) {
	h.t.Helper()
	cmd := UploadLicense{Source: SourceRequestCode, Licenses: l}
	if len(l) > 1 {
		cmd.Bundle = "B-" + l[0].ID
	}
	h.do(at, cmd)
}

func insert(h *history, at time.Time, node, key string, l ...License) {
	h.t.Helper()
	h.do(at, InsertUSBKey{Node: node, KeyID: key, Licenses: l})
}

func pull(h *history, at time.Time, node, key string) {
	h.t.Helper()
	h.do(at, RemoveUSBKey{Node: node, KeyID: key})
}

var (
	vmw8  = plusLic("L-V8", ModuleVMware, 8, day(0), day(365))
	vmw16 = plusLic("L-V16", ModuleVMware, 16, day(0), day(365))
	ten   = plusLic("L-T", ModuleTenant, 0, day(0), day(365))
	std8  = baseLic("L-S", EditionStandard, 8, day(0), day(365))
	comm  = License{ID: "L-C", Kind: KindBase, Edition: EditionCommunity, IssuedAt: day(0)}
)

// R4, R5, R6, R8: what a Base enables, and when.
func TestBaseRules(t *testing.T) {
	runScenarios(t, []scenario{
		{
			name: "R4 Plus needs a non-community Base", modules: []string{"tenant"},
			steps: func(h *history) {
				rc(h, day(1), ten)
				rc(h, day(2), comm)
				rc(h, day(3), baseLic("L-S", EditionStandard, 8, day(0), day(10)))
			},
			checks: []check{
				{day(1), "unlicensed key=none tenant=!base-required"},
				{day(2), "community base=L-C key=none tenant=!base-required"},
				{day(3), "licensed base=L-S key=none tenant=L-T"},
				{day(10), "expired base=L-S key=none tenant=!base-required"}, // R8: ends at expiry
			},
		},
		{
			name: "R5 enterprise includes six modules, standard buys them", modules: []string{"gpu", "smartnic", "tenant"},
			steps: func(h *history) {
				rc(h, day(1), std8)
				rc(h, day(2), plusLic("L-G", ModuleGPU, 0, day(0), day(365)))
				rc(h, day(3), ent16("L-E"))
			},
			checks: []check{
				{day(1), "licensed base=L-S key=none gpu=!not-licensed smartnic=!not-licensed tenant=!not-licensed"},
				{day(2), "licensed base=L-S key=none gpu=L-G smartnic=!not-licensed tenant=!not-licensed"},
				{day(3), "licensed base=L-E key=none gpu=L-E smartnic=L-E tenant=!not-licensed"},
			},
		},
		{
			name: "R6 trial enables every module for its year", modules: []string{"vmware", "cdp", "gpu"},
			steps: func(h *history) {
				rc(h, day(1), baseLic("L-TR", EditionEnterpriseTrial, 0, day(1), day(1000)))
			},
			checks: []check{
				{day(2), "licensed base=L-TR key=none vmware=L-TR cdp=L-TR gpu=L-TR"},
				{day(366), "expired base=L-TR key=none vmware=!base-required cdp=!base-required gpu=!base-required"},
			},
		},
		{
			name: "R8 a license counts from its issue to its expiry", modules: []string{"cdp"},
			steps: func(h *history) {
				rc(h, day(1), std8, plusLic("L-CDP", ModuleCDP, 0, day(5), day(9)))
			},
			checks: []check{
				{day(4), "licensed base=L-S key=none cdp=!not-yet-valid"},
				{day(5), "licensed base=L-S key=none cdp=L-CDP"},
				{day(9), "licensed base=L-S key=none cdp=!expired"},
			},
		},
	})
	// R6: counted modules are unlimited under a trial.
	h := newHistory(t, "trial")
	rc(h, day(1), baseLic("L-TR", EditionEnterpriseTrial, 0, day(1), day(100)))
	if m := h.at(day(2)).Modules[ModuleContainerVCPU]; !m.Unlimited || m.Source != ModuleSourceTrial {
		t.Fatalf("container-vcpu under trial = %+v, want unlimited from the trial", m)
	}
	if m := h.at(day(2)).Modules[ModuleGPU]; m.Source != ModuleSourceIncluded {
		t.Fatalf("gpu under trial = %+v, want included (R5)", m)
	}
}

// R9, R13, R14: two sources, their union, and latest-wins precedence.
func TestSourceRules(t *testing.T) {
	runScenarios(t, []scenario{
		{
			name: "R9 R13 union of both sources", modules: []string{"vmware", "tenant"},
			steps: func(h *history) {
				rc(h, day(1), std8, vmw16)
				insert(h, day(2), "mn-1", "K-1", ten)
			},
			checks: []check{{day(3), "licensed base=L-S key=ready vmware=L-V16 tenant=L-T"}},
		},
		{
			name: "R13 the latest wins even if smaller, and replaces", modules: []string{"vmware"},
			steps: func(h *history) {
				rc(h, day(1), std8, vmw16)
				insert(h, day(2), "mn-1", "K-1", plusLic("L-V4", ModuleVMware, 4, day(0), day(20)))
			},
			checks: []check{
				{day(3), "licensed base=L-S key=ready vmware=L-V4"},
				{day(20), "licensed base=L-S key=ready vmware=!expired"},
			},
		},
		{
			name: "R13 a key's re-insertion brings its licenses again, latest", modules: []string{"vmware"},
			steps: func(h *history) {
				insert(h, day(1), "mn-1", "K-1", vmw8)
				rc(h, day(2), std8, vmw16)
				pull(h, day(3), "mn-1", "K-1")
				insert(h, day(3.5), "mn-1", "K-1", vmw8)
			},
			checks: []check{
				{day(2.5), "licensed base=L-S key=ready vmware=L-V16"},
				{day(4), "licensed base=L-S key=ready vmware=L-V8"},
			},
		},
		{
			name: "R13 decision: the same precedence picks the Base", modules: []string{"gpu"},
			steps: func(h *history) {
				rc(h, day(1), ent16("L-E"))
				insert(h, day(2), "mn-1", "K-1", std8)
			},
			checks: []check{{day(3), "licensed base=L-S key=ready gpu=!not-licensed"}},
		},
		{
			name: "R13 an unavailable source takes no part", modules: []string{"vmware", "tenant"},
			steps: func(h *history) {
				rc(h, day(1), std8, vmw16)
				insert(h, day(2), "mn-1", "K-1", vmw8, ten)
				pull(h, day(3), "mn-1", "K-1")
			},
			checks: []check{
				{day(4), "licensed base=L-S key=missing buffer=active@02-03 vmware=L-V8 tenant=L-T"},
				{day(33), "licensed base=L-S key=missing buffer=expired@02-03 vmware=L-V16 tenant=!source-unavailable"},
			},
		},
		{
			name: "R14 a deleted license takes no part", modules: []string{"vmware"},
			steps: func(h *history) {
				rc(h, day(1), std8)
				insert(h, day(2), "mn-1", "K-1", vmw8)
				rc(h, day(3), vmw16)
				h.do(day(4), DeleteLicense{License: "L-V16"})
			},
			checks: []check{
				{day(3), "licensed base=L-S key=ready vmware=L-V16"},
				{day(4), "licensed base=L-S key=ready vmware=L-V8"},
			},
		},
	})
}

// R17–R22: the buffer license after a key stops authorizing.
func TestBufferRules(t *testing.T) {
	entKey := func(h *history, at time.Time, key string) { insert(h, at, "mn-1", key, ent16("L-"+key), vmw8Of(key)) }
	runScenarios(t, []scenario{
		// R18: pulled after its authorization expired, the key leaves no buffer.
		{
			name: "R18 no buffer when pulled after expiry", modules: []string{"vmware"},
			steps: func(h *history) {
				insert(h, day(1), "mn-1", "K-1", baseLic("L-K", EditionStandard, 8, day(-300), day(10)))
				pull(h, day(12), "mn-1", "K-1")
			},
			checks: []check{
				{day(11), "expired base=L-K key=ready vmware=!base-required"},
				{day(12), "expired base=L-K key=missing buffer=none vmware=!base-required"},
			},
		},
		{
			name: "R19 first pull: 30 days of the key's entitlements", modules: []string{"vmware"},
			steps: func(h *history) {
				entKey(h, day(1), "K-1")
				pull(h, day(31), "mn-1", "K-1")
			},
			checks: []check{
				{day(31), "grace base=L-K-1 key=missing buffer=active@03-03 vmware=L-K-1V"},
				{day(60.99), "grace base=L-K-1 key=missing buffer=active@03-03 vmware=L-K-1V"},
				{day(61), "expired base=L-K-1 key=missing buffer=expired@03-03 vmware=!base-required"},
			},
		},
		{
			name: "R19 decision: the buffer never outlasts the licenses", modules: []string{"vmware"},
			steps: func(h *history) {
				insert(h, day(1), "mn-1", "K-1", ent16Until("L-K", day(40)), plusLic("L-KV", ModuleVMware, 8, day(0), day(35)))
				pull(h, day(31), "mn-1", "K-1")
			},
			checks: []check{
				{day(34), "grace base=L-K key=missing buffer=active@02-10 vmware=L-KV"},
				{day(35), "grace base=L-K key=missing buffer=active@02-10 vmware=!expired"},
				{day(40), "expired base=L-K key=missing buffer=expired@02-10 vmware=!base-required"},
			},
		},
		// R20: a later pull of the same key, < 60 or >= 60 days after the previous.
		{
			name: "R20 a pull < 60 days after the previous keeps its expiry", modules: nil,
			steps: func(h *history) {
				entKey(h, day(1), "K-1")
				pull(h, day(10), "mn-1", "K-1") // buffer to day 40 (10 February)
				entKey(h, day(11), "K-1")
				pull(h, day(69.9), "mn-1", "K-1") // 59.9 days later
			},
			checks: []check{{day(70), "expired base=L-K-1 key=missing buffer=expired@02-10"}},
		},
		{
			name: "R20 a pull >= 60 days after the previous is fresh", modules: nil,
			steps: func(h *history) {
				entKey(h, day(1), "K-1")
				pull(h, day(10), "mn-1", "K-1")
				entKey(h, day(11), "K-1")
				pull(h, day(70), "mn-1", "K-1")
			},
			checks: []check{{day(70), "grace base=L-K-1 key=missing buffer=active@04-11"}},
		},
		{
			name: "R21 a new key voids the old key's buffer at once", modules: []string{"vmware"},
			steps: func(h *history) {
				entKey(h, day(1), "K-1")
				pull(h, day(10), "mn-1", "K-1")
				insert(h, day(12), "mn-1", "K-2", std8)
				pull(h, day(13), "mn-1", "K-2")
			},
			checks: []check{
				{day(11), "grace base=L-K-1 key=missing buffer=active@02-10 vmware=L-K-1V"},
				{day(12), "licensed base=L-S key=ready vmware=!source-unavailable"},
				{day(14), "grace base=L-S key=missing buffer=active@02-13 vmware=!source-unavailable"},
			},
		},
		{
			name: "R17 entering fault makes the active key unavailable", modules: []string{"vmware"},
			steps: func(h *history) {
				entKey(h, day(1), "K-1")
				insert(h, day(10), "mn-1", "K-2")
				pull(h, day(50), "mn-1", "K-2")
			},
			checks: []check{
				{day(10), "grace base=L-K-1 key=fault buffer=active@02-10 vmware=L-K-1V"},
				{day(50), "licensed base=L-K-1 key=ready vmware=L-K-1V"},
			},
		},
		{
			name: "R22 in fault with the buffer expired the key is unusable", modules: []string{"vmware", "tenant"},
			steps: func(h *history) {
				rc(h, day(1), std8, ten)
				entKey(h, day(2), "K-1")
				insert(h, day(10), "mn-1", "K-2")
			},
			checks: []check{
				{day(39.9), "grace base=L-K-1 key=fault buffer=active@02-10 vmware=L-K-1V tenant=L-T"},
				{day(40), "licensed base=L-S key=fault buffer=expired@02-10 vmware=!source-unavailable tenant=L-T"},
			},
		},
		{
			name: "R22 fault with no buffer: inherited from a pull < 60 days before", modules: nil,
			steps: func(h *history) {
				entKey(h, day(1), "K-1")
				pull(h, day(2), "mn-1", "K-1") // buffer to day 32
				entKey(h, day(3), "K-1")
				insert(h, day(40), "mn-1", "K-2") // fault 38 days after the pull
			},
			checks: []check{{day(40), "expired base=L-K-1 key=fault buffer=expired@02-02"}},
		},
	})
}

func vmw8Of(key string) License { return plusLic("L-"+key+"V", ModuleVMware, 8, day(0), day(365)) }

func ent16Until(id string, end time.Time) License {
	return baseLic(id, EditionEnterprise, 16, day(0), end)
}

// R19, R4: an entitlement that stands only through a buffer says when the
// buffer ends (grace_until) next to the license's own expiry: on the Base,
// on the key's Plus modules, and on every module entitled while the Base
// itself stands through a buffer; with the key in, there is none.
func TestGraceUntil(t *testing.T) {
	h := newHistory(t, "p")
	rc(h, day(1), vmw8)
	insert(h, day(1), "mn-1", "K-1", ent16("L-K-1"), plusLic("L-KT", ModuleTenant, 0, day(0), day(365)))
	pull(h, day(31), "mn-1", "K-1") // buffer until day 61, 3 March

	grace := func(t *testing.T, at time.Time) map[string]string {
		t.Helper()
		s, err := PlatformAsOf(h.events, "p", at)
		if err != nil {
			t.Fatal(err)
		}
		e := PlatformEntitlement(s, at)
		got := map[string]string{}
		put := func(name string, g *time.Time) {
			if g != nil {
				got[name] = g.Format("01-02")
			}
		}
		put("base", e.Base.GraceUntil)
		for _, m := range []string{ModuleTenant, ModuleVMware, ModuleGPU} {
			put(m, e.Modules[m].GraceUntil)
		}
		return got
	}
	tests := []struct {
		name string
		at   time.Time
		want map[string]string
	}{
		{"key inserted: no grace", day(10), map[string]string{}},
		// vmware comes by request code and needs no buffer of its own, but
		// it needs the Base (R4), which stands only through the buffer.
		{"key pulled: every module ends with the Base's buffer", day(40),
			map[string]string{"base": "03-03", ModuleTenant: "03-03", ModuleVMware: "03-03", ModuleGPU: "03-03"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := grace(t, tt.at); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("grace_until = %v, want %v", got, tt.want)
			}
		})
	}
}
