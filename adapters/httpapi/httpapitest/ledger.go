// Package httpapitest runs a real ledger for tests of the packages that
// talk to it over HTTP (a typed client, the license client): an embedded
// JetStream event store, SQLite projections and the HTTP API on an
// httptest server, on an injected clock.
package httpapitest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/licledger/licledger/adapters/httpapi"
	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
	"github.com/licledger/licledger/projections"
)

// Ledger is a running ledger. Close stops it.
type Ledger struct {
	URL   string
	Clock *eventstoretest.Clock // nil: the ledger runs on time.Now
	Close func()
}

// Open starts a ledger on dir with the tokens ("role token" lines, as
// serve --tokens reads them) and signing (the zero value: a key of this
// process). A nil clock runs it on time.Now (for examples whose product
// reads the real time).
func Open(dir string, clock *eventstoretest.Clock, tokens string, signing httpapi.SigningConfig) (*Ledger, error) {
	ctx := context.Background()
	now := time.Now
	if clock != nil {
		now = clock.Now
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := eventstore.Open(ctx, eventstore.Config{DataDir: filepath.Join(dir, "events"), Logger: log, Now: now})
	if err != nil {
		return nil, err
	}
	db, err := projections.Open(ctx, filepath.Join(dir, "projections.db"))
	if err != nil {
		store.Close()
		return nil, err
	}
	runner := projections.NewRunner(db, store, log)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		runner.Run(rctx)
	}()
	stop := func() {
		cancel()
		<-done
		db.Close()
		store.Close()
	}
	toks, err := httpapi.ParseTokens([]byte(tokens))
	if err != nil {
		stop()
		return nil, err
	}
	api, err := httpapi.New(httpapi.Config{Store: store, Queries: projections.NewQueries(db), Runner: runner,
		Tokens: toks, Logger: log, Now: now, Signing: signing})
	if err != nil {
		stop()
		return nil, err
	}
	srv := httptest.NewServer(api.Handler())
	return &Ledger{URL: srv.URL, Clock: clock, Close: func() {
		srv.Close()
		stop()
	}}, nil
}

// Main runs a package's tests (TestMain) with one ledger for them all,
// typically for its examples, which take no *testing.T: started in a
// temporary directory on clock (nil: time.Now) with tokens, then setup
// (creating what the examples use). It returns the exit code for os.Exit.
func Main(m *testing.M, clock *eventstoretest.Clock, tokens string, setup func(*Ledger) error) int {
	dir, err := os.MkdirTemp("", "ledger-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	l, err := Open(dir, clock, tokens, httpapi.SigningConfig{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start the tests' ledger:", err)
		return 1
	}
	defer l.Close()
	if err := setup(l); err != nil {
		fmt.Fprintln(os.Stderr, "set up the tests' ledger:", err)
		return 1
	}
	return m.Run()
}
