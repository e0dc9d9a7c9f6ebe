package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

const (
	auditorNATSPassword = "auditor-nats-password-0123"
	billingNATSPassword = "billing-nats-password-0123"
)

// natsUsersFile writes a --nats-users file and a password file per user,
// and returns the users file's path and the password files by name.
func natsUsersFile(t *testing.T) (string, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	users := filepath.Join(dir, "nats-users")
	writeFile(t, users, "# role name password\nauditor audit-team "+auditorNATSPassword+"\nbilling erp "+billingNATSPassword+"\n")
	pw := map[string]string{"audit-team": filepath.Join(dir, "audit-team.pw"), "erp": filepath.Join(dir, "erp.pw"), "wrong": filepath.Join(dir, "wrong.pw")}
	writeFile(t, pw["audit-team"], auditorNATSPassword+"\n")
	writeFile(t, pw["erp"], billingNATSPassword+"\n")
	writeFile(t, pw["wrong"], billingNATSPassword+"-not\n")
	return users, pw
}

// A running ledger's NATS port: the read-only commands sign in as an
// auditor or a billing system and work; without the right credentials
// they are refused, and no password ever shows in their output.
func TestReadOnlyCommandsSignInToTheNATSPort(t *testing.T) {
	t.Parallel()
	users, pw := natsUsersFile(t)
	m := mustRunMain(t, withArgs("--nats-listen", "127.0.0.1:0", "--nats-users", users)).Main
	url := m.Store.ClientURL()
	if !strings.HasPrefix(url, "nats://127.0.0.1:") {
		t.Fatalf("ClientURL = %q, want the NATS listen address", url)
	}
	sub := domain.Aggregate{Kind: domain.KindSubscription, ID: "S-1"}
	created, err := domain.NewEvent(sub.String(), domain.EventSubscriptionCreated, domain.SubscriptionCreated{Customer: "c", Period: domain.SubscriptionMonthly})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := m.Store.Append(context.Background(), sub, 0, created)
	if err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(t.TempDir(), "billing.jsonl")
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   string // a substring of stdout
		stderr   string // a substring of stderr
		wantFile string // billing tail's output
	}{
		{"audit verify as an auditor", []string{"audit", "verify", "--nats", url, "--nats-user", "audit-team", "--nats-password-file", pw["audit-team"]}, 0, "OK", "", ""},
		{"audit verify without credentials", []string{"audit", "verify", "--nats", url}, 1, "", "unauthorized", ""},
		{"audit verify with a wrong password", []string{"audit", "verify", "--nats", url, "--nats-user", "audit-team", "--nats-password-file", pw["wrong"]}, 1, "", "Authorization Violation", ""},
		{"billing tail as billing", []string{"billing", "tail", "--consumer", "erp", "--nats", url, "--nats-user", "erp", "--nats-password-file", pw["erp"],
			"--out", out, "--ack-wait", "50ms", "--exit-idle", "100ms"}, 0, "", "delivered=1", string(recs[0].Raw) + "\n"},
		{"rebuild as an auditor", []string{"rebuild", "--nats", url, "--nats-user", "audit-team", "--nats-password-file", pw["audit-team"],
			"--projections", filepath.Join(t.TempDir(), "projections.db")}, 0, "up to sequence 1", "", ""},
		{"credentials without --nats", []string{"audit", "verify", "--data", t.TempDir(), "--nats-user", "audit-team", "--nats-password-file", pw["audit-team"]}, 2, "", "--nats URL", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if code := dispatch(ctx, tt.args, &stdout, &stderr); code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout %s\nstderr %s", code, tt.code, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.stdout) || !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stdout %q, stderr %q; want %q and %q in them", stdout.String(), stderr.String(), tt.stdout, tt.stderr)
			}
			for _, secret := range []string{auditorNATSPassword, billingNATSPassword} {
				if strings.Contains(stdout.String()+stderr.String(), secret) {
					t.Errorf("the output shows a password:\n%s%s", stdout.String(), stderr.String())
				}
			}
			if tt.wantFile != "" {
				got, err := os.ReadFile(out)
				if err != nil || string(got) != tt.wantFile {
					t.Errorf("billing output %q (%v), want %q", got, err, tt.wantFile)
				}
			}
		})
	}
}

// The loopback guard of --nats-listen, and NATS settings that do not fit
// together: refused with EINVALID before anything listens.
func TestServeRefusesNATSSettings(t *testing.T) {
	t.Parallel()
	users, pw := natsUsersFile(t)
	badUsers := filepath.Join(t.TempDir(), "bad-users")
	writeFile(t, badUsers, "admin root "+auditorNATSPassword+"\n")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"every interface without users", []string{"--nats-listen", "0.0.0.0:4222"}, "without NATS users"},
		{"empty host without users", []string{"--nats-listen", ":4222"}, "without NATS users"},
		{"a public address without users", []string{"--nats-listen", "192.0.2.1:4222"}, "without NATS users"},
		{"users without a listen address", []string{"--nats-users", users}, "listen address"},
		{"users for an external server", []string{"--nats", "nats://127.0.0.1:1", "--nats-users", users}, "deploy/nats-server.conf"},
		{"a bad users file", []string{"--nats-listen", "127.0.0.1:0", "--nats-users", badUsers}, "unknown role"},
		{"credentials for the embedded server", []string{"--nats-user", "licledger", "--nats-password-file", pw["erp"]}, "--nats URL"},
		{"a user without a password", []string{"--nats", "nats://127.0.0.1:1", "--nats-user", "licledger"}, "no password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"--data", t.TempDir(), "--http", "127.0.0.1:0", "--log-level", "error"}, tt.args...)
			m, err := mainFromFlags(args, io.Discard)
			if err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				err = m.Run(ctx)
				m.Close()
			}
			if domain.ErrorCode(err) != domain.EINVALID || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("serve %v: %v, want invalid saying %q", tt.args, err, tt.want)
			}
			if strings.Contains(err.Error(), auditorNATSPassword) || strings.Contains(err.Error(), billingNATSPassword) {
				t.Fatalf("the error shows a password: %v", err)
			}
		})
	}
}

// The NATS flags' environment variables: LICLEDGER_NATS_USERS names the
// users file, LICLEDGER_NATS_USER and LICLEDGER_NATS_PASSWORD sign the
// ledger in to an external server, and a password given twice is refused.
func TestServeNATSFlagsFromEnv(t *testing.T) {
	users, pw := natsUsersFile(t)
	t.Setenv("LICLEDGER_NATS_USERS", users)
	t.Setenv("LICLEDGER_NATS_LISTEN", "127.0.0.1:0")
	m, err := mainFromFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Config.NATSUsers; len(got) != 2 || got[0] != (eventstore.NATSUser{Role: "auditor", Name: "audit-team", Password: auditorNATSPassword}) {
		t.Errorf("NATSUsers = %v, want the file's two users", got)
	}

	t.Setenv("LICLEDGER_NATS_USERS", "")
	t.Setenv("LICLEDGER_NATS_LISTEN", "")
	t.Setenv("LICLEDGER_NATS", "nats://ledger.example:4222")
	t.Setenv("LICLEDGER_NATS_USER", "licledger")
	t.Setenv("LICLEDGER_NATS_PASSWORD", "ledger-password-0123456789")
	if m, err = mainFromFlags(nil, io.Discard); err != nil {
		t.Fatal(err)
	}
	if got, want := m.Config.NATSCredentials, (eventstore.Credentials{User: "licledger", Password: "ledger-password-0123456789"}); got != want {
		t.Errorf("NATSCredentials = %v, want %v", got, want)
	}
	if _, err := mainFromFlags([]string{"--nats-password-file", pw["erp"]}, io.Discard); domain.ErrorCode(err) != domain.EINVALID {
		t.Errorf("password in a file and in LICLEDGER_NATS_PASSWORD: %v, want invalid", err)
	}

	var help bytes.Buffer
	if code := dispatch(context.Background(), []string{"serve", "--help"}, io.Discard, &help); code != 0 {
		t.Errorf("serve --help exit %d", code)
	}
	for _, env := range []string{"LICLEDGER_NATS_USERS", "LICLEDGER_NATS_USER", "LICLEDGER_NATS_PASSWORD_FILE", "LICLEDGER_NATS_CREDS", "LICLEDGER_NATS_NKEY", "LICLEDGER_NATS_PASSWORD"} {
		if !strings.Contains(help.String(), env) {
			t.Errorf("serve --help does not document %s", env)
		}
	}
}
