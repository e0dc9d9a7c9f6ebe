package main

// `licledger ledger-key list|rotate`: the ledger's signing keys (R27
// Decision (trust)). Products verify signed answers with the public keys;
// list prints them as GET /v1/ledger/keys serves them, rotate adds a new
// current key (serves started afterwards sign with it; every older key
// stays published, so stored answers keep verifying).

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/licledger/licledger/adapters/httpapi"
	"github.com/licledger/licledger/adapters/ledgerkey"
	"github.com/licledger/licledger/domain"
)

func init() {
	register("ledger-key list", "print the ledger's public signing keys (current and retired), as GET /v1/ledger/keys does", runLedgerKeyList)
	register("ledger-key rotate", "add a new current signing key; older keys stay published so stored answers keep verifying", runLedgerKeyRotate)
}

// signingConfig is how serve signs: with the ring's current key,
// publishing all of them, each rotated one endorsed by the root key (which
// every client that fetched the keys before a rotation holds).
func signingConfig(r *ledgerkey.Ring) httpapi.SigningConfig {
	cfg := httpapi.SigningConfig{Signer: r.Current()}
	for _, k := range r.Published() {
		pk := httpapi.PublicKey{ID: k.ID, Alg: "ed25519", Key: k.Key, Status: k.Status}
		if k.ID != r.Root().ID() {
			e := domain.EndorseKey(r.Root(), k.ID, k.Key)
			pk.Endorsement = &e
		}
		cfg.Keys = append(cfg.Keys, pk)
	}
	return cfg
}

// ledgerKeyFlags are the flags both commands take.
func ledgerKeyFlags(name string, stderr io.Writer) (*flag.FlagSet, *string, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "./data", "the ledger's data directory")
	path := fs.String("ledger-key", "", "the ledger key's file (default DATA/"+ledgerkey.FileName+")")
	return fs, data, path
}

func ledgerKeyPath(data, path string) string {
	if path != "" {
		return path
	}
	return filepath.Join(data, ledgerkey.FileName)
}

// existingLedgerKey is ledgerKeyPath when a key is there. The ledger-key
// commands never create one: a mistyped --data would otherwise print (or
// rotate) a key the ledger never signs with.
func existingLedgerKey(data, path string) (string, error) {
	p := ledgerKeyPath(data, path)
	if _, err := os.Stat(p); err != nil {
		return "", domain.Errorf(domain.ENOTFOUND, "no ledger key at %s: --data must be the ledger's data directory (serve creates the key on its first start)", p)
	}
	return p, nil
}

func runLedgerKeyList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, data, path := ledgerKeyFlags("ledger-key list", stderr)
	asJSON := fs.Bool("json", false, "print the JSON of GET /v1/ledger/keys")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	p, err := existingLedgerKey(*data, *path)
	if err != nil {
		return err
	}
	r, _, err := ledgerkey.OpenRing(p)
	if err != nil {
		return err
	}
	doc := httpapi.LedgerKeysDoc{Keys: signingConfig(r).Keys}
	if *asJSON {
		b, _ := json.MarshalIndent(doc, "", "  ")
		_, err := fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	for _, k := range doc.Keys {
		fmt.Fprintf(stdout, "%s  %-7s  ed25519  %s\n", k.ID, k.Status, base64.StdEncoding.EncodeToString(k.Key))
	}
	return nil
}

func runLedgerKeyRotate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, data, path := ledgerKeyFlags("ledger-key rotate", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return domain.Errorf(domain.EINVALID, "ledger-key rotate takes no arguments")
	}
	p, err := existingLedgerKey(*data, *path)
	if err != nil {
		return err
	}
	id, err := ledgerkey.Rotate(p)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s is the current signing key; restart every serve of this ledger to sign with it (older keys stay published)\n", id)
	return nil
}
