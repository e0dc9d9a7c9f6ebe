package domain

import "time"

// This file is the product catalog of the platform licenses (rules R1–R6):
// editions, the Plus modules, which are counted and in which unit, and
// which ones an edition includes. Everything here is constant data.

// Plus modules (R3), in the order of the rules; Modules lists them.
const (
	ModuleVMware           = "vmware"
	ModuleTenant           = "tenant"
	ModuleARM64            = "arm64"
	ModuleDisasterRecovery = "disaster-recovery"
	ModuleCDP              = "cdp"
	ModuleMigration        = "migration"
	ModuleCryptoCompliance = "crypto-compliance"
	ModuleBaremetal        = "baremetal"
	ModuleElasticBaremetal = "elastic-baremetal"
	ModuleAliyunHybrid     = "aliyun-hybrid"
	ModuleSupport5x8       = "support-5x8"
	ModuleSupport7x24      = "support-7x24"
	ModuleSRIOV            = "sriov"
	ModuleGPU              = "gpu"
	ModuleBilling          = "billing"
	ModuleOrchestration    = "orchestration"
	ModuleAutoscaling      = "autoscaling"
	ModuleSmartNIC         = "smartnic"
	ModuleContainerCPU     = "container-cpu"
	ModuleContainerVCPU    = "container-vcpu"
)

// moduleCount is len(Modules); a constant so per-module tables are arrays.
const moduleCount = 20

// ModuleInfo describes one Plus module of the catalog.
type ModuleInfo struct {
	Name string
	// Unit is what a counted module's quantity counts ("" when the module
	// is not counted and a license for it carries no quantity).
	Unit string
	// Enterprise is true for the modules enterprise and enterprise-trial
	// include without a Plus license (R5).
	Enterprise bool
}

// Counted reports whether a license for the module carries a quantity.
func (m ModuleInfo) Counted() bool { return m.Unit != "" }

// catalog is the table behind Modules and LookupModule, in R3 order.
var catalog = [moduleCount]ModuleInfo{
	{Name: ModuleVMware, Unit: "vmware-sockets"},
	{Name: ModuleTenant},
	{Name: ModuleARM64, Unit: "arm64-hosts"},
	{Name: ModuleDisasterRecovery, Unit: "protected-vms"},
	{Name: ModuleCDP},
	{Name: ModuleMigration},
	{Name: ModuleCryptoCompliance},
	{Name: ModuleBaremetal, Unit: "servers"},
	{Name: ModuleElasticBaremetal, Unit: "servers"},
	{Name: ModuleAliyunHybrid},
	{Name: ModuleSupport5x8},
	{Name: ModuleSupport7x24},
	{Name: ModuleSRIOV, Enterprise: true},
	{Name: ModuleGPU, Enterprise: true},
	{Name: ModuleBilling, Enterprise: true},
	{Name: ModuleOrchestration, Enterprise: true},
	{Name: ModuleAutoscaling, Enterprise: true},
	{Name: ModuleSmartNIC, Enterprise: true},
	{Name: ModuleContainerCPU, Unit: "cpus"},
	{Name: ModuleContainerVCPU, Unit: "vcpus"},
}

// Modules returns the twenty Plus modules of R3 in the order of the rules.
// The slice is a copy; callers may keep or change it.
func Modules() []ModuleInfo {
	out := make([]ModuleInfo, moduleCount)
	copy(out, catalog[:])
	return out
}

// moduleIndex returns the catalog position of a module name, or -1. A
// linear scan of twenty short strings (compared by length first) is
// cheaper than a map lookup on the fold's hot path.
func moduleIndex(name string) int {
	for i := range catalog {
		if catalog[i].Name == name {
			return i
		}
	}
	return -1
}

// LookupModule returns the catalog entry of a module name.
func LookupModule(name string) (ModuleInfo, bool) {
	i := moduleIndex(name)
	if i < 0 {
		return ModuleInfo{}, false
	}
	return catalog[i], true
}

// Editions lists the Base editions of R1, from the least to the most.
func Editions() []string {
	return []string{EditionCommunity, EditionStandard, EditionEnterpriseTrial, EditionEnterprise}
}

// KnownEdition reports whether e is an edition of R1.
func KnownEdition(e string) bool {
	switch e {
	case EditionCommunity, EditionStandard, EditionEnterpriseTrial, EditionEnterprise:
		return true
	}
	return false
}

// editionHasSocketQuota reports whether a Base of the edition carries a
// quota of physical CPU sockets (R2).
func editionHasSocketQuota(e string) bool {
	return e == EditionStandard || e == EditionEnterprise
}

// editionIncludes reports whether the edition enables the module with no
// Plus license: the enterprise modules for enterprise and enterprise-trial
// (R5), and every module for enterprise-trial (R6).
func editionIncludes(edition string, m ModuleInfo) bool {
	switch edition {
	case EditionEnterprise:
		return m.Enterprise
	case EditionEnterpriseTrial:
		return true
	}
	return false
}

// trialYears is how long an enterprise-trial runs from its issue (R2).
const trialYears = 1

// licenseEnd returns the end of a license's term and whether it has one
// (R8). An enterprise-trial Base ends one year after issue at the latest
// (R2), even when its file names a later expiry or none.
func licenseEnd(kind, edition string, issued time.Time, expires time.Time, hasExpiry bool) (time.Time, bool) {
	if kind == KindBase && edition == EditionEnterpriseTrial {
		limit := issued.AddDate(trialYears, 0, 0)
		if !hasExpiry || limit.Before(expires) {
			return limit, true
		}
	}
	return expires, hasExpiry
}

// KnownHypervisor reports whether h is a hypervisor of the host contract.
func KnownHypervisor(h string) bool {
	return h == HypervisorKVM || h == HypervisorVMware || h == HypervisorARM64
}
