package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// R11: the CLI prints the documented request code (FORMAT.md §5) from
// machine-id files and values, in any order.
func TestRequestCodeCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if err := os.WriteFile(a, []byte("0123456789abcdef0123456789abcdef\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, []byte("fedcba9876543210fedcba9876543210\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"one file", []string{"--platform", "acme-prod", "--machine-id-file", a}, "RC-C67K-QNGA-SYAT-PLSZ-AFKB-U74E"},
		{"two files", []string{"--platform", "acme-prod", "--machine-id-file", a, "--machine-id-file", b}, "RC-ZKCA-BOSK-MXQ2-WEUI-WAJJ-PKEL"},
		{"file and value, reversed", []string{"--platform", "acme-prod", "--machine-id", "fedcba9876543210fedcba9876543210", "--machine-id-file", a}, "RC-ZKCA-BOSK-MXQ2-WEUI-WAJJ-PKEL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := vendorMustRun(t, append([]string{"request-code"}, tt.args...)...)
			if got := strings.TrimSpace(out); got != tt.want {
				t.Fatalf("request code %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRequestCodeCommandRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no platform", []string{"--machine-id", "abc"}, "--platform"},
		{"bad platform", []string{"--platform", "a.b", "--machine-id", "abc"}, "a.b"},
		{"missing file", []string{"--platform", "acme", "--machine-id-file", filepath.Join(dir, "none")}, "machine id"},
		{"empty value", []string{"--platform", "acme", "--machine-id", " "}, "machine id"},
		{"stray argument", []string{"--platform", "acme", "extra"}, "unexpected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := vendorRun(t, append([]string{"request-code"}, tt.args...)...)
			if code != 2 || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit 2 mentioning %q", code, errOut, tt.want)
			}
		})
	}
}
