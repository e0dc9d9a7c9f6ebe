package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licledger/licledger/adapters/httpclient"
	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

// The auditor's round: a checkpoint signed on the ledger, the public key
// and an export taken away; the live log and the export verify against
// the checkpoint, a cut export does not, and events written after it are
// reported as not yet sealed.
func TestAuditCheckpointAndVerify(t *testing.T) {
	t.Parallel()
	dir := exportHistory(t) // served and stopped: a shutdown checkpoint was signed
	work := t.TempDir()
	file := func(name string) string { return filepath.Join(work, name) }

	s, err := eventstore.Open(context.Background(), eventstore.Config{DataDir: dir, ReadOnly: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	last, _ := s.LastSeq(t.Context())
	shutdownCp, err := s.LatestCheckpoint(t.Context())
	s.Close()
	if err != nil || shutdownCp.LastSeq != last || last == 0 {
		t.Fatalf("shutdown checkpoint = %+v, %v; want one sealing up to %d", shutdownCp, err, last)
	}

	run := func(want int, args ...string) string {
		t.Helper()
		code, stdout, stderr := cliRun(t, args...)
		if code != want {
			t.Fatalf("licledger %s: exit %d, want %d\nstdout %s\nstderr %s", strings.Join(args, " "), code, want, stdout, stderr)
		}
		return stdout
	}
	cpJSON := run(0, "audit", "checkpoint", "--data", dir)
	var cp domain.Checkpoint
	if err := json.Unmarshal([]byte(cpJSON), &cp); err != nil || cp.LastSeq != last {
		t.Fatalf("audit checkpoint printed %s (%v), want a checkpoint up to %d", cpJSON, err, last)
	}
	writeFile(t, file("cp.json"), cpJSON)
	writeFile(t, file("pub.json"), run(0, "ledger-key", "list", "--data", dir, "--json"))
	run(0, "export", "--data", dir, "--out", file("log.jsonl"))

	if out := run(0, "audit", "verify", "--data", dir, "--checkpoint", file("cp.json")); !strings.Contains(out, "OK: the log holds exactly what the checkpoint sealed") {
		t.Errorf("live verify:\n%s", out)
	}
	if out := run(0, "audit", "verify", "--export", file("log.jsonl"), "--checkpoint", file("cp.json"), "--public-key", file("pub.json")); !strings.Contains(out, "signature (key "+cp.KeyID+"): valid") {
		t.Errorf("export verify:\n%s", out)
	}
	if out := run(0, "audit", "verify", "--export", file("log.jsonl")); !strings.Contains(out, "OK: every chain verifies") {
		t.Errorf("export chains:\n%s", out)
	}
	if out := run(0, "audit", "verify", "--data", dir); !strings.Contains(out, "authorship: marks checked; 0 legacy") {
		t.Errorf("live verify with the ledger key checks marks:\n%s", out)
	}
	// The export cut short by its last event fails against the checkpoint.
	b := readFile(t, file("log.jsonl"))
	lines := strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n")
	writeFile(t, file("cut.jsonl"), strings.Join(lines[:len(lines)-1], ""))
	if out := run(1, "audit", "verify", "--export", file("cut.jsonl"), "--checkpoint", file("cp.json"), "--public-key", file("pub.json")); !strings.Contains(out, eventstore.ProblemTruncated) {
		t.Errorf("a cut export:\n%s", out)
	}
	// Without a public key there is nothing to check the signature with.
	run(2, "audit", "verify", "--export", file("log.jsonl"), "--checkpoint", file("cp.json"))

	// A running ledger signs on request; what is written after is not yet sealed.
	const admin = "admin-token-checkpoint-0123"
	l := mustRunMain(t, withDataDir(dir), withToken("admin", admin))
	writeFile(t, file("cp2.json"), run(0, "audit", "checkpoint", "--url", l.URL, "--token", admin))
	if _, err := l.API.RegisterPlatform(t.Context(), httpclient.RegisterRequest{ID: "beta", Nodes: []string{"mn-1"}}); err != nil {
		t.Fatal(err)
	}
	run(1, "audit", "checkpoint", "--url", l.URL, "--token", "wrong-token-0123456789")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if out := run(0, "audit", "verify", "--data", dir, "--checkpoint", file("cp2.json")); !strings.Contains(out, fmt.Sprintf("not yet sealed: 1 event(s), seq %d..%d", last+1, last+1)) {
		t.Errorf("after one more event:\n%s", out)
	}

	// After a signing-key rotation, checkpoints are signed with the new
	// key and the older ones still verify by their key id.
	run(0, "ledger-key", "rotate", "--data", dir)
	writeFile(t, file("cp3.json"), run(0, "audit", "checkpoint", "--data", dir))
	var cp3 domain.Checkpoint
	if err := json.Unmarshal(readFile(t, file("cp3.json")), &cp3); err != nil || cp3.KeyID == cp.KeyID {
		t.Errorf("checkpoint after rotation signed by %s (%v), want a new key", cp3.KeyID, err)
	}
	for _, c := range []string{"cp.json", "cp3.json"} {
		run(0, "audit", "verify", "--data", dir, "--checkpoint", file(c))
	}
}

func TestServeCheckpointEveryFlag(t *testing.T) {
	t.Parallel()
	if _, err := mainFromFlags([]string{"--data", t.TempDir(), "--checkpoint-every", "soon"}, io.Discard); domain.ErrorCode(err) != domain.EINVALID {
		t.Errorf("--checkpoint-every soon: %v, want EINVALID", err)
	}
	m, err := mainFromFlags([]string{"--data", t.TempDir(), "--checkpoint-every", "0"}, io.Discard)
	if err != nil || m.Config.CheckpointEvery != 0 {
		t.Errorf("--checkpoint-every 0: %v %v", m, err)
	}
}
