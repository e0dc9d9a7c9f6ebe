package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/licledger/licledger/adapters/httpapi"
	"github.com/licledger/licledger/adapters/ledgerkey"
	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

func init() {
	register("audit checkpoint", "sign a checkpoint of the log now (a stopped ledger's --data, or a running one's --url) and print it as JSON", runAuditCheckpoint)
}

// auditLedgerKey opens the ledger's keys for verification: --ledger-key,
// or DATA/ledger.key when useData and it exists. It never creates one (an
// auditor's machine has none: nil, marks are then not checked).
func auditLedgerKey(keyFile, dataDir string, useData bool) (*ledgerkey.Ring, error) {
	if keyFile == "" {
		if !useData {
			return nil, nil
		}
		keyFile = filepath.Join(dataDir, ledgerkey.FileName)
		if _, err := os.Stat(keyFile); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
	}
	if _, err := os.Stat(keyFile); err != nil {
		return nil, domain.Errorf(domain.EINVALID, "ledger key %s: %v", keyFile, err)
	}
	r, _, err := ledgerkey.OpenRing(keyFile)
	return r, err
}

// ledgerKeyOf opens an existing ledger's keys: keyFile, or DATA/ledger.key.
func ledgerKeyOf(keyFile, dataDir string) (*ledgerkey.Ring, error) {
	return auditLedgerKey(ledgerKeyPath(dataDir, keyFile), "", false)
}

// readPublicKey reads --public-key: the JSON of GET /v1/ledger/keys (or
// `licledger ledger-key list --json`), where it takes the key named
// keyID; or one key alone in base64 (standard or URL alphabet).
func readPublicKey(path, keyID string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, domain.Errorf(domain.EINVALID, "public key: %v", err)
	}
	var doc httpapi.LedgerKeysDoc
	if json.Unmarshal(b, &doc) == nil && len(doc.Keys) > 0 {
		for _, k := range doc.Keys {
			if k.ID == keyID && len(k.Key) == ed25519.PublicKeySize {
				return k.Key, nil
			}
		}
		return nil, domain.Errorf(domain.EINVALID, "public keys %s: none has the checkpoint's key id %s", path, keyID)
	}
	text := strings.TrimSpace(string(b))
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if k, err := enc.DecodeString(text); err == nil && len(k) == ed25519.PublicKeySize {
			return ed25519.PublicKey(k), nil
		}
	}
	return nil, domain.Errorf(domain.EINVALID, "public key %s: neither the JSON of GET /v1/ledger/keys nor a %d-byte Ed25519 key in base64", path, ed25519.PublicKeySize)
}

// exportFileRecords yields the records of an export file in order; a bad
// line ends it with an error naming the line.
func exportFileRecords(f io.Reader) iter.Seq2[eventstore.Record, error] {
	return func(yield func(eventstore.Record, error) bool) {
		r := bufio.NewReaderSize(f, 1<<20)
		for n := 1; ; n++ {
			line, err := r.ReadBytes('\n')
			if len(bytes.TrimSpace(line)) > 0 {
				rec, derr := eventstore.DecodeExportLine(line)
				if derr != nil {
					yield(eventstore.Record{}, domain.Errorf(domain.EINVALID, "export line %d: %s", n, domain.ErrorMessage(derr)))
					return
				}
				if !yield(rec, nil) {
					return
				}
			}
			if err == io.EOF {
				return
			}
			if err != nil {
				yield(eventstore.Record{}, domain.Errorf(domain.EINVALID, "read export: %v", err))
				return
			}
		}
	}
}

func verifyExportFile(path string) (eventstore.VerifyReport, error) {
	f, err := os.Open(path)
	if err != nil {
		return eventstore.VerifyReport{}, domain.Errorf(domain.EINVALID, "export: %v", err)
	}
	defer f.Close()
	return eventstore.VerifyRecords(exportFileRecords(f))
}

// checkpointVerify are the flags of `audit verify --checkpoint`.
type checkpointVerify struct {
	cpFile, exportFile, pubFile string
	keys                        *ledgerkey.Ring
	dataDir, natsURL, stream    string
	natsAuth                    natsAuthFlags
	asJSON                      bool
}

func runCheckpointVerify(ctx context.Context, o checkpointVerify, stdout, stderr io.Writer) error {
	b, err := os.ReadFile(o.cpFile)
	if err != nil {
		return domain.Errorf(domain.EINVALID, "checkpoint: %v", err)
	}
	var cp domain.Checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return domain.Errorf(domain.EINVALID, "checkpoint %s is not a checkpoint's JSON: %v", o.cpFile, err)
	}
	var pub ed25519.PublicKey
	switch {
	case o.pubFile != "":
		if pub, err = readPublicKey(o.pubFile, cp.KeyID); err != nil {
			return err
		}
	case o.keys != nil:
		if pub = o.keys.Verifying()[cp.KeyID]; pub == nil {
			return domain.Errorf(domain.EINVALID, "the ledger's keys in --data have no key %s (the checkpoint's key id)", cp.KeyID)
		}
	default:
		// Never a key that arrives with the checkpoint: whoever forged it
		// would supply that too.
		return domain.Errorf(domain.EINVALID, "give the ledger's public keys with --public-key FILE (GET /v1/ledger/keys, or `licledger ledger-key list --json`), or --data with its ledger.key")
	}

	var rep eventstore.CheckpointReport
	if o.exportFile != "" {
		f, err := os.Open(o.exportFile)
		if err != nil {
			return domain.Errorf(domain.EINVALID, "export: %v", err)
		}
		defer f.Close()
		if rep, err = eventstore.VerifyCheckpoint(cp, pub, "", exportFileRecords(f)); err != nil {
			return err
		}
	} else {
		creds, err := o.natsAuth.credentials(o.natsURL)
		if err != nil {
			return err
		}
		store, err := openStoreForCLI(ctx, o.dataDir, o.natsURL, creds, o.stream, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
		if err != nil {
			return err
		}
		defer store.Close()
		if rep, err = eventstore.VerifyCheckpoint(cp, pub, store.StreamName(), store.Read(ctx, 1)); err != nil {
			return err
		}
	}
	if err := printReport(stdout, o.asJSON, rep, func() { printCheckpointReport(stdout, rep) }); err != nil {
		return err
	}
	if !rep.OK() {
		return domain.Errorf(domain.EINTERNAL, "%d problem(s): the log does not hold what checkpoint %s sealed", len(rep.Problems), o.cpFile)
	}
	return nil
}

func printCheckpointReport(w io.Writer, rep eventstore.CheckpointReport) {
	cp := rep.Checkpoint
	fmt.Fprintf(w, "checkpoint: stream %s sealed up to seq %d at %s: %d events, %d aggregates, root %s\n",
		cp.Stream, cp.LastSeq, cp.Time.Format("2006-01-02T15:04:05.000Z07:00"), cp.Events, cp.Aggregates, cp.Root)
	fmt.Fprintf(w, "signature (key %s): %s\n", cp.KeyID, rep.Signature)
	fmt.Fprintf(w, "recomputed: %d events, %d aggregates, root %s\n", rep.Events, rep.Aggregates, rep.Root)
	foreign := "none"
	if len(cp.Foreign) > 0 {
		foreign = fmt.Sprint(cp.Foreign)
	}
	fmt.Fprintf(w, "authorship (signed by the ledger): %d legacy event(s) written before marking existed; foreign events: %s\n", cp.LegacyUnmarked, foreign)
	if u := rep.Unsealed; u.Events > 0 {
		fmt.Fprintf(w, "not yet sealed: %d event(s), seq %d..%d\n", u.Events, u.FirstSeq, u.LastSeq)
	} else {
		fmt.Fprintln(w, "not yet sealed: none")
	}
	if rep.OK() {
		fmt.Fprintln(w, "OK: the log holds exactly what the checkpoint sealed")
		return
	}
	printProblems(w, rep.Problems)
}

// runAuditCheckpoint signs a checkpoint: through a running ledger's API
// (--url, an admin token), or on a stopped ledger's data directory with
// its key. Either way it is kept in the ledger and printed, to be kept
// elsewhere too.
func runAuditCheckpoint(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit checkpoint", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data", "", "data directory of a ledger that is not running (its ledger.key signs)")
	keyFile := fs.String("ledger-key", "", "the ledger key file (default DATA/ledger.key)")
	url := fs.String("url", "", "base URL of a running ledger (e.g. http://127.0.0.1:8080): POST /v1/audit/checkpoints")
	token := fs.String("token", os.Getenv("LICLEDGER_TOKEN"), "with --url: an admin bearer token (default $LICLEDGER_TOKEN)")
	stream := fs.String("stream", eventstore.DefaultStream, "the ledger's JetStream stream")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: licledger audit checkpoint (--data DIR | --url URL [--token TOKEN])")
		fmt.Fprintln(stderr, "\nSigns a checkpoint of the log now and prints it as JSON: keep it outside the ledger and check the log")
		fmt.Fprintln(stderr, "against it later with `licledger audit verify --checkpoint FILE`.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if (*dataDir == "") == (*url == "") {
		return domain.Errorf(domain.EINVALID, "give exactly one of --data DIR or --url URL")
	}
	var body []byte
	if *url != "" {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(*url, "/")+"/v1/audit/checkpoints", nil)
		if err != nil {
			return domain.Errorf(domain.EINVALID, "--url: %v", err)
		}
		if *token != "" {
			req.Header.Set("Authorization", "Bearer "+*token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return domain.Errorf(domain.EINTERNAL, "POST /v1/audit/checkpoints: %v", err)
		}
		defer resp.Body.Close()
		if body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20)); err != nil {
			return domain.Errorf(domain.EINTERNAL, "POST /v1/audit/checkpoints: %v", err)
		}
		if resp.StatusCode != http.StatusCreated {
			return domain.Errorf(domain.EINTERNAL, "POST /v1/audit/checkpoints: %s: %s", resp.Status, bytes.TrimSpace(body))
		}
	} else {
		keys, err := ledgerKeyOf(*keyFile, *dataDir)
		if err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(*dataDir, "jetstream")); err != nil {
			return domain.Errorf(domain.ENOTFOUND, "no ledger data under %s", *dataDir)
		}
		store, err := eventstore.Open(ctx, eventstore.Config{DataDir: *dataDir, Stream: *stream, Mark: markKey(keys.Root()),
			Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
		if err != nil {
			return err
		}
		defer store.Close()
		cp, err := store.WriteCheckpoint(ctx, keys.Current())
		if err != nil {
			return err
		}
		if body, err = json.MarshalIndent(cp, "", "  "); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(stdout, "%s\n", bytes.TrimSpace(body))
	return err
}
