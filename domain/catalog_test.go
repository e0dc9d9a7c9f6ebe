package domain

import (
	"slices"
	"testing"
	"time"
)

// R1: the four editions of a Base license.
func TestEditions(t *testing.T) {
	got := Editions()
	want := []string{"community", "standard", "enterprise-trial", "enterprise"}
	if !slices.Equal(got, want) {
		t.Fatalf("Editions() = %v, want %v", got, want)
	}
	for _, e := range want {
		if !KnownEdition(e) {
			t.Errorf("KnownEdition(%q) = false", e)
		}
	}
	if KnownEdition("platinum") {
		t.Error(`KnownEdition("platinum") = true`)
	}
}

// R3: the twenty Plus modules in the order of the rules, and which are
// counted in which unit.
func TestModules(t *testing.T) {
	want := []struct {
		name, unit string
	}{
		{"vmware", "vmware-sockets"}, {"tenant", ""}, {"arm64", "arm64-hosts"},
		{"disaster-recovery", "protected-vms"}, {"cdp", ""}, {"migration", ""},
		{"crypto-compliance", ""}, {"baremetal", "servers"}, {"elastic-baremetal", "servers"},
		{"aliyun-hybrid", ""}, {"support-5x8", ""}, {"support-7x24", ""}, {"sriov", ""},
		{"gpu", ""}, {"billing", ""}, {"orchestration", ""}, {"autoscaling", ""},
		{"smartnic", ""}, {"container-cpu", "cpus"}, {"container-vcpu", "vcpus"},
	}
	got := Modules()
	if len(got) != len(want) {
		t.Fatalf("%d modules, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].Name != w.name || got[i].Unit != w.unit || got[i].Counted() != (w.unit != "") {
			t.Errorf("module %d = %+v, want %s counted in %q", i, got[i], w.name, w.unit)
		}
		if m, ok := LookupModule(w.name); !ok || m.Name != w.name {
			t.Errorf("LookupModule(%q) = %+v, %v", w.name, m, ok)
		}
	}
	got[0].Name = "changed"
	if Modules()[0].Name != ModuleVMware {
		t.Error("Modules() shares its table with callers")
	}
	if _, ok := LookupModule("teleport"); ok {
		t.Error(`LookupModule("teleport") found a module`)
	}
}

// R5, R6: which modules each edition includes with no Plus license.
func TestEditionIncludes(t *testing.T) {
	enterpriseSet := []string{"sriov", "gpu", "billing", "orchestration", "autoscaling", "smartnic"}
	for _, m := range Modules() {
		tests := []struct {
			edition string
			want    bool
		}{
			{EditionCommunity, false},
			{EditionStandard, false},                                    // R5: standard buys them
			{EditionEnterprise, slices.Contains(enterpriseSet, m.Name)}, // R5
			{EditionEnterpriseTrial, true},                              // R6: trial has everything
		}
		for _, tt := range tests {
			if got := editionIncludes(tt.edition, m); got != tt.want {
				t.Errorf("editionIncludes(%s, %s) = %v, want %v", tt.edition, m.Name, got, tt.want)
			}
		}
	}
}

// R2, R8: an enterprise-trial ends one year after issue at the latest;
// other licenses end at their expiry, or never.
func TestLicenseEnd(t *testing.T) {
	never := func(l License) License { l.ExpiresAt = nil; return l }
	tests := []struct {
		name    string
		license License
		want    string // "" for no end
	}{
		{"trial capped at a year", baseLic("L", EditionEnterpriseTrial, 0, day(0), day(800)), "2027-01-01T00:00:00Z"},
		{"trial ending sooner", baseLic("L", EditionEnterpriseTrial, 0, day(0), day(90)), "2026-04-01T00:00:00Z"},
		{"trial without expiry", never(baseLic("L", EditionEnterpriseTrial, 0, day(0), day(1))), "2027-01-01T00:00:00Z"},
		{"standard", baseLic("L", EditionStandard, 4, day(0), day(800)), "2028-03-11T00:00:00Z"},
		{"perpetual plus", never(plusLic("L", ModuleTenant, 0, day(0), day(1))), ""},
		{"community", never(baseLic("L", EditionCommunity, 0, day(0), day(1))), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newLicenseRecord(tt.license, SourceRequestCode, "")
			got := ""
			if r.hasEnd {
				got = r.end.Format(time.RFC3339)
			}
			if got != tt.want {
				t.Fatalf("end = %q, want %q", got, tt.want)
			}
			// R8: in force when issued <= T < end.
			if !r.inForce(day(0)) || r.inForce(day(0).Add(-time.Second)) {
				t.Error("not in force exactly from its issue")
			}
			if r.hasEnd && (r.inForce(r.end) || !r.inForce(r.end.Add(-time.Second))) {
				t.Error("not out of force exactly at its end")
			}
		})
	}
}
