package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/licledger/licledger/adapters/console"
	"github.com/licledger/licledger/adapters/httpapi"
	"github.com/licledger/licledger/adapters/ledgerkey"
	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/projections"
)

// MainConfig configures a serving ledger (see `licledger serve --help` for
// the flags and environment variables that fill it).
type MainConfig struct {
	DataDir         string                 // embedded JetStream under DataDir/jetstream; projections default under it
	HTTPAddr        string                 // e.g. 127.0.0.1:8080; port 0 picks a free one (see Main.Addr)
	NATSURL         string                 // external NATS instead of the embedded server
	NATSListen      string                 // embedded server only: also accept NATS clients here, to read
	NATSUsers       []eventstore.NATSUser  // embedded server only: who may sign in on NATSListen (read only)
	NATSCredentials eventstore.Credentials // external server only: the ledger's user there
	Stream          string
	Replicas        int
	SyncAlways      bool   // embedded server only: fsync before acknowledging
	ProjectionsPath string // default DataDir/projections.db
	LedgerKeyPath   string // the ledger's own key (adapters/ledgerkey); default DataDir/ledger.key
	Tokens          *httpapi.Tokens
	MaxBodyBytes    int64
	MaxUploadBytes  int64
	MaxConnections  int           // HTTP connections held at once (httpapi.Config.MaxConnections)
	ShutdownTimeout time.Duration // for draining HTTP requests; default 10s
	SnapshotEvery   time.Duration // how often to store a projections snapshot for new replicas (snapshots.go); 0: never
	// CheckpointEvery is how often the ledger signs a checkpoint when the
	// log has grown since the last (checkpoint.go), and it signs one at
	// shutdown too; 0 or less: neither (POST /v1/audit/checkpoints still works).
	CheckpointEvery time.Duration
	Logger          *slog.Logger
	Now             func() time.Time // the ledger clock; default time.Now
}

// Main is a running ledger: event store, projections and HTTP API, wired
// together. Run opens and starts everything and returns; Close stops it
// in reverse order. The exported fields are for wiring more edges:
//
//   - Verifier (set before Run) replaces the license JSON uploads with
//     signed license files and bundles (adapters/licensefile).
//   - Background (set before Run) are loops started after the store and
//     projections and stopped first on Close: e.g. the USB key watcher
//     (adapters/hid), which records through m.Commands.
//   - Ready (set before Run) adds named sections to /readyz (the state of
//     those edges; see httpapi.Config.Ready).
type Main struct {
	Config MainConfig

	Verifier   httpapi.LicenseVerifier
	Background []func(ctx context.Context) error
	Ready      map[string]func() any

	Store *eventstore.Store
	// LedgerKey is the ledger's own key, created on first start.
	LedgerKey *ledgerkey.Key
	// LedgerKeys is every signing key: LedgerKey and those rotated in
	// beside it (the current one signs answers).
	LedgerKeys *ledgerkey.Ring
	// Commands is the command layer every edge of this process writes
	// through (one cache per aggregate kind, one lock table).
	Commands eventstore.Executors
	DB       *projections.DB
	Queries  *projections.Queries
	Runner   *projections.Runner
	API      *httpapi.Server
	// Restored is the log sequence the projections started from when Run
	// restored them from a snapshot (snapshots.go), 0 when they were
	// already there or built from the log.
	Restored uint64

	log    *slog.Logger
	ln     net.Listener
	srv    *http.Server
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed bool
}

// NewMain returns a Main with the defaults of `licledger serve`.
func NewMain() *Main {
	return &Main{Config: MainConfig{DataDir: "./data", HTTPAddr: "127.0.0.1:8080", Stream: eventstore.DefaultStream, Replicas: 1}}
}

// Run opens the event store, the projections database (applying
// migrations), starts the projector and the HTTP server, and returns. ctx
// bounds the start-up only; stop with Close.
func (m *Main) Run(ctx context.Context) (err error) {
	c := &m.Config
	m.log = c.Logger
	if m.log == nil {
		m.log = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	if err := httpapi.CheckExposure(c.HTTPAddr, c.Tokens, m.log); err != nil {
		return err
	}
	if c.ProjectionsPath == "" {
		if c.DataDir == "" {
			return domain.Errorf(domain.EINVALID, "set a data directory (--data) or a projections database (--projections)")
		}
		c.ProjectionsPath = filepath.Join(c.DataDir, "projections.db")
	}
	if c.LedgerKeyPath == "" {
		if c.DataDir == "" {
			return domain.Errorf(domain.EINVALID, "set a data directory (--data) or the ledger key's file (--ledger-key)")
		}
		c.LedgerKeyPath = filepath.Join(c.DataDir, ledgerkey.FileName)
	}
	var created bool
	if m.LedgerKeys, created, err = ledgerkey.OpenRing(c.LedgerKeyPath); err != nil {
		return err
	}
	m.LedgerKey = m.LedgerKeys.Root()
	if created {
		m.log.Info("created the ledger key; keep it with the data and give every serve replica the same file", "key_id", m.LedgerKey.ID(), "path", c.LedgerKeyPath)
	}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()

	m.Store, err = eventstore.Open(ctx, eventstore.Config{DataDir: c.DataDir, URL: c.NATSURL, Listen: c.NATSListen,
		Users: c.NATSUsers, Credentials: c.NATSCredentials, Stream: c.Stream, Replicas: c.Replicas, SyncAlways: c.SyncAlways, Now: c.Now, Logger: m.log,
		Mark: markKey(m.LedgerKey)})
	if err != nil {
		return fmt.Errorf("open event store: %w", err)
	}
	m.restoreSnapshot(ctx)
	if m.DB, err = projections.Open(ctx, c.ProjectionsPath); err != nil {
		return fmt.Errorf("open projections: %w", err)
	}
	m.Commands = eventstore.NewExecutors(m.Store, eventstore.ExecutorConfig{Now: c.Now})
	m.Queries = projections.NewQueries(m.DB)
	m.Runner = projections.NewRunner(m.DB, m.Store, m.log)
	m.API, err = httpapi.New(httpapi.Config{Store: m.Store, Commands: httpapi.CommandsOf(m.Commands), Queries: m.Queries, Runner: m.Runner, Verifier: m.Verifier,
		Tokens: c.Tokens, Logger: m.log, LicenseServer: httpapi.LicenseServerConfig{SecretKey: m.LedgerKey.Derive("idempotent-secrets")}, Signing: signingConfig(m.LedgerKeys), Now: c.Now, MaxBodyBytes: c.MaxBodyBytes, MaxUploadBytes: c.MaxUploadBytes, MaxConnections: c.MaxConnections, Ready: m.Ready,
		Checkpoints: m.LedgerKeys.Current(),
		Console:     console.Handler()})
	if err != nil {
		return err
	}
	if m.ln, err = net.Listen("tcp", c.HTTPAddr); err != nil {
		return domain.Errorf(domain.EINVALID, "listen on %s: %v", c.HTTPAddr, err)
	}

	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.cancel = cancel
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.Runner.Run(bg)
	}()
	if c.SnapshotEvery > 0 {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.snapshotLoop(bg, c.SnapshotEvery)
		}()
	}
	for _, f := range m.Background {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			if err := f(bg); err != nil && bg.Err() == nil {
				m.log.Error("background task stopped", "err", err)
			}
		}()
	}
	if c.CheckpointEvery > 0 {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.checkpointEvery(bg, c.CheckpointEvery)
		}()
	}
	m.srv = m.API.HTTPServer()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if err := m.srv.Serve(m.API.Listener(m.ln)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.Error("HTTP server stopped", "err", err)
		}
	}()
	natsListen := "" // an external server's URL is not ours to show
	if c.NATSURL == "" {
		natsListen = m.Store.ClientURL()
	}
	m.log.Info("licledger serving", "http", m.Addr(), "data", c.DataDir, "nats", orEmbedded(c.NATSURL), "nats_listen", natsListen, "projections", c.ProjectionsPath)
	return nil
}

// orEmbedded names the NATS server for logs; a password in a URL is
// redacted.
func orEmbedded(url string) string {
	if url == "" {
		return "embedded"
	}
	return eventstore.RedactURL(url)
}

// Addr is the HTTP address bound (useful with port 0).
func (m *Main) Addr() string {
	if m.ln == nil {
		return ""
	}
	return m.ln.Addr().String()
}

// Close shuts down in reverse order of Run: stop accepting HTTP and drain
// the requests in flight (their commands complete), stop the background
// tasks and the projector (a batch in progress commits or rolls back
// whole with its checkpoint), close the projections database, then the
// event store. Safe to call more than once.
func (m *Main) Close() error {
	if m.closed {
		return nil
	}
	m.closed = true
	var errs []error
	if m.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownTimeout)
		if err := m.srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("drain HTTP: %w", err))
		}
		cancel()
	} else if m.ln != nil {
		m.ln.Close()
	}
	if m.cancel != nil {
		m.cancel()
	}
	m.wg.Wait()
	if m.Store != nil && m.Config.CheckpointEvery > 0 {
		m.checkpoint(context.Background(), "shutdown")
	}
	if m.DB != nil {
		if err := m.DB.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if m.Store != nil {
		if err := m.Store.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// openStoreForCLI opens the event store read-only for an offline command
// (rebuild, verify): the embedded one under dataDir, or a NATS server
// (a running ledger's --nats-listen, or an external one) with creds, an
// auditor's or billing system's, which may only read.
func openStoreForCLI(ctx context.Context, dataDir, natsURL string, creds eventstore.Credentials, stream string, log *slog.Logger) (*eventstore.Store, error) {
	if natsURL == "" {
		if _, err := os.Stat(filepath.Join(dataDir, "jetstream")); err != nil {
			return nil, domain.Errorf(domain.ENOTFOUND, "no ledger data under %s (looked for %s); pass --data or --nats", dataDir, filepath.Join(dataDir, "jetstream"))
		}
	}
	return eventstore.Open(ctx, eventstore.Config{DataDir: dataDir, URL: natsURL, Credentials: creds, Stream: stream, ReadOnly: true, Logger: log})
}
