package licensefile

import (
	"crypto/sha256"
	"encoding/base32"
	"os"
	"sort"
	"strings"

	"github.com/licledger/licledger/domain"
)

// requestCodeDomain separates request-code hashes from any other SHA-256
// use and versions the derivation.
const requestCodeDomain = "licledger-request-code/1"

// RequestCode derives a platform's request code from its id and the
// machine identities of its management nodes (FORMAT.md, "Request codes"):
//
//	M    = "licledger-request-code/1" LF platform LF id_1 LF ... id_n LF
//	       (machine ids normalized, de-duplicated and sorted bytewise)
//	code = "RC-" + groups of 4 of base32(SHA-256(M)[0:15])
//
// The result, e.g. RC-ABCD-EFGH-IJKL-MNOP-QRST-UVWX, depends only on its
// inputs, so it is stable across restarts and node order. The ledger records
// the code when the platform registers and keeps it when a second node is
// added (R15): recomputing it with another node set gives another code,
// which is why the recorded one, not a recomputation, is authoritative.
func RequestCode(platform string, machineIDs []string) (string, error) {
	if err := domain.ValidateID(platform); err != nil {
		return "", err
	}
	if len(machineIDs) == 0 {
		return "", domain.Errorf(domain.EINVALID, "a request code needs the machine id of at least one management node")
	}
	ids := make([]string, 0, len(machineIDs))
	seen := map[string]bool{}
	for _, raw := range machineIDs {
		id, err := NormalizeMachineID(raw)
		if err != nil {
			return "", err
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	var m strings.Builder
	m.WriteString(requestCodeDomain + "\n" + platform + "\n")
	for _, id := range ids {
		m.WriteString(id + "\n")
	}
	sum := sha256.Sum256([]byte(m.String()))
	enc := base32.StdEncoding.EncodeToString(sum[:15]) // 15 bytes: 24 characters, no padding
	groups := make([]string, 0, len(enc)/4)
	for i := 0; i < len(enc); i += 4 {
		groups = append(groups, enc[i:i+4])
	}
	return "RC-" + strings.Join(groups, "-"), nil
}

// NormalizeMachineID trims surrounding whitespace and lower-cases a machine
// identity (systemd's /etc/machine-id is 32 lower-case hex digits and a
// newline). It must then be 1 to 256 printable ASCII characters.
func NormalizeMachineID(s string) (string, error) {
	id := strings.ToLower(strings.TrimSpace(s))
	if id == "" || len(id) > 256 {
		return "", domain.Errorf(domain.EINVALID, "machine id %q must be 1 to 256 characters", id)
	}
	for _, r := range id {
		if r <= ' ' || r > '~' {
			return "", domain.Errorf(domain.EINVALID, "machine id %q may only hold printable ASCII without spaces", id)
		}
	}
	return id, nil
}

// ReadMachineID reads a machine identity file such as /etc/machine-id.
func ReadMachineID(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", domain.Errorf(domain.EINVALID, "read machine id: %v", err)
	}
	id, err := NormalizeMachineID(string(raw))
	if err != nil {
		return "", domain.Errorf(domain.EINVALID, "%s: %s", path, domain.ErrorMessage(err))
	}
	return id, nil
}
