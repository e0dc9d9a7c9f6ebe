package licensefile

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/licledger/licledger/domain"
)

const (
	machineA = "0123456789abcdef0123456789abcdef"
	machineB = "fedcba9876543210fedcba9876543210"
)

// R11: the request code is a pure function of the platform id and its
// nodes' machine ids: stable across runs, independent of order, case and
// surrounding whitespace, and different for another platform or machine.
// The expected values are the worked examples of FORMAT.md, computed
// independently with Python (hashlib + base64.b32encode).
func TestRequestCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		platform string
		ids      []string
		want     string
	}{
		{"one node", "acme-prod", []string{machineA}, "RC-C67K-QNGA-SYAT-PLSZ-AFKB-U74E"},
		{"two nodes", "acme-prod", []string{machineA, machineB}, "RC-ZKCA-BOSK-MXQ2-WEUI-WAJJ-PKEL"},
		{"two nodes reversed", "acme-prod", []string{machineB, machineA}, "RC-ZKCA-BOSK-MXQ2-WEUI-WAJJ-PKEL"},
		{"file content with newline and upper case", "acme-prod", []string{strings.ToUpper(machineA) + "\n"}, "RC-C67K-QNGA-SYAT-PLSZ-AFKB-U74E"},
		{"duplicate id counted once", "acme-prod", []string{machineA, machineA}, "RC-C67K-QNGA-SYAT-PLSZ-AFKB-U74E"},
	}
	shape := regexp.MustCompile(`^RC(-[A-Z2-7]{4}){6}$`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RequestCode(tt.platform, tt.ids)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("RequestCode = %s, want %s", got, tt.want)
			}
			if !shape.MatchString(got) || domain.ValidateID(got) != nil {
				t.Fatalf("%s is not a well-formed request code", got)
			}
		})
	}
	other, _ := RequestCode("acme-test", []string{machineA})
	otherMachine, _ := RequestCode("acme-prod", []string{machineB})
	if other == tests[0].want || otherMachine == tests[0].want {
		t.Fatal("a different platform or machine gave the same request code")
	}
}

func TestRequestCodeRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		platform string
		ids      []string
	}{
		{"no machine ids", "acme", nil},
		{"empty machine id", "acme", []string{"  \n"}},
		{"machine id with space", "acme", []string{"ab cd"}},
		{"machine id too long", "acme", []string{strings.Repeat("a", 257)}},
		{"bad platform", "acme.prod", []string{machineA}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := RequestCode(tt.platform, tt.ids)
			if got, want := domain.ErrorCode(err), domain.EINVALID; got != want {
				t.Fatalf("code = %q, want %q (%v)", got, want, err)
			}
		})
	}
}

func TestReadMachineID(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "machine-id")
	if err := os.WriteFile(path, []byte(machineA+"\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	got, err := ReadMachineID(path)
	if err != nil || got != machineA {
		t.Fatalf("ReadMachineID = %q, %v; want %q", got, err, machineA)
	}
	if _, err := ReadMachineID(filepath.Join(dir, "missing")); domain.ErrorCode(err) != domain.EINVALID {
		t.Fatalf("missing file: %v", err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadMachineID(empty); domain.ErrorCode(err) != domain.EINVALID {
		t.Fatalf("empty file: %v", err)
	}
}
