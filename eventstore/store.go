// Package eventstore is the ledger's event store on NATS JetStream: one
// stream (default LEDGER, subjects ledger.>) holding every event of every
// aggregate, appended with optimistic concurrency, de-duplicated by event
// id, written in atomic batches, and read back in stream order.
//
// By default it embeds a nats-server with JetStream file storage under the
// data directory, so the ledger runs as one binary with no setup; with a
// URL it connects to an existing server or cluster instead.
//
// Durability (see Config.SyncAlways): with the defaults an acknowledged
// append has been handed to the operating system (write(2)) before the
// acknowledgement is sent, so it survives the ledger process being killed
// (SIGKILL, panic, OOM kill): the kernel's page cache outlives the process.
// It survives a power loss or kernel crash only once fsynced, which the
// embedded server does every SyncInterval (default 1s). With SyncAlways
// every append is fsynced before it is acknowledged and survives a power
// loss too, at the cost of one disk flush per append.
package eventstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of Config.
const (
	DefaultStream          = "LEDGER"
	DefaultSource          = "licledger"
	DefaultDuplicateWindow = 10 * time.Minute
	DefaultSyncInterval    = time.Second
	DefaultLoadTimeout     = 5 * time.Second
	// SubjectPrefix is the first token of every event subject:
	// ledger.<kind>.<id>.
	SubjectPrefix = "ledger"
	// MaxBatch is the most events one Append may carry: JetStream's default
	// limit on an atomic batch.
	MaxBatch = 1000
)

// Config configures Open. The zero value (plus DataDir) runs an embedded
// server with the defaults below.
type Config struct {
	// DataDir holds the embedded server's JetStream file storage, under
	// DataDir/jetstream. Required unless URL is set.
	DataDir string
	// URL, if set, connects to this NATS server or cluster instead of
	// embedding one; DataDir, Listen, SyncAlways and SyncInterval are then
	// ignored (durability is the server's configuration; a stream with
	// Replicas 3 acknowledges once a quorum has the message).
	URL string
	// Listen, for the embedded server only: "" opens no TCP port (the store
	// talks to its server in-process); "127.0.0.1:0" or "host:port" also
	// accepts NATS clients there (e.g. `licledger audit verify --nats`),
	// which may only read (see auth.go): the Users below, or, with none, any
	// client on a loopback address. A non-loopback address without Users
	// is refused (EINVALID).
	Listen string
	// Users (embedded server with Listen only) are the auditors and billing
	// systems that may connect to Listen with a name and password, to read;
	// the ledger's own user is built in and its secret never leaves the
	// process. See LoadNATSUsers for the file serve reads them from.
	Users []NATSUser
	// Credentials (external server only) are what the store connects to
	// URL with: the ledger's user when it writes, an auditor's or billing
	// system's when ReadOnly.
	Credentials Credentials
	// Stream is the JetStream stream name; default "LEDGER". Its subjects
	// are always "ledger.>".
	Stream string
	// Replicas of the stream; default 1. More than 1 needs a cluster (URL).
	Replicas int
	// DuplicateWindow is how long JetStream remembers event ids
	// (Nats-Msg-Id) to drop a re-sent append. Default 10 minutes: longer
	// than any client's retry loop, short enough to keep the id table
	// small. Beyond it, Append still recognises a retry whose events carry
	// the same ids (it loads the aggregate and matches them), and Execute
	// recognises a retried command by its idempotency key in the history.
	DuplicateWindow time.Duration
	// Source is the CloudEvents source stamped on events that have none;
	// default "licledger".
	Source string
	// LoadTimeout bounds one Load: it returns within this, with the
	// aggregate's history or an EINTERNAL error, whatever the cluster
	// does; default 5s (a healthy server answers in milliseconds). A
	// caller's earlier context deadline wins.
	LoadTimeout time.Duration
	// Now is the ledger's clock; default time.Now. Tests inject one.
	Now func() time.Time
	// Logger receives the store's and the embedded server's warnings;
	// default slog.Default().
	Logger *slog.Logger

	// SyncAlways (embedded server only) fsyncs every write before the
	// append is acknowledged: an acknowledged event then survives a power
	// loss or kernel crash, not only a crash of this process. Off by
	// default: the server then writes each event to its file (write(2))
	// before acknowledging it, which survives SIGKILL of the process, and
	// fsyncs every SyncInterval.
	SyncAlways bool
	// SyncInterval (embedded server only) is how often the server fsyncs
	// when SyncAlways is off; default 1s. It bounds what a power loss can
	// take: acknowledged appends younger than this may be lost.
	SyncInterval time.Duration
	// Mutable leaves the stream's DenyDelete and DenyPurge off. By default
	// the stream is created with both on, so JetStream itself refuses to
	// delete or purge events (R31), and once on they cannot be turned off.
	// Tests that simulate tampering, and nothing else, set Mutable.
	Mutable bool
	// ReadOnly opens an existing ledger for reading and auditing: the
	// stream is looked up, never created or reconfigured, and Append (so
	// Execute) fails with EFORBIDDEN. An embedded ReadOnly store on a data
	// directory with no ledger in it fails with ENOTFOUND.
	ReadOnly bool
	// Mark, if set, is the secret every appended event is marked with
	// (mark.go), and with which Verify and checkpoints tell the ledger's
	// events from foreign ones. nil: events are stored unmarked and
	// authorship is not checked.
	Mark *MarkKey
}

func (c *Config) setDefaults() {
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.DuplicateWindow <= 0 {
		c.DuplicateWindow = DefaultDuplicateWindow
	}
	if c.Source == "" {
		c.Source = DefaultSource
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.SyncInterval <= 0 {
		c.SyncInterval = DefaultSyncInterval
	}
	if c.LoadTimeout <= 0 {
		c.LoadTimeout = DefaultLoadTimeout
	}
}

// Store is the event store. It is safe for concurrent use by many
// goroutines; several Stores (processes) may share one stream, and
// optimistic concurrency keeps them consistent.
type Store struct {
	cfg    Config
	log    *slog.Logger
	srv    *server.Server // nil when connected to an external server
	unlock func()         // releases the data directory lock; nil when external
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	direct atomic.Bool // the stream answers direct gets (AllowDirect)

	heads heads     // per-aggregate cache of the last stored event
	locks lockTable // serialises Execute per aggregate within this process

	appended atomic.Pointer[func([]Record)] // OnAppend's observer

	// The embedded server's write-error state (health.go).
	jsConfig    server.JetStreamConfig // to restart its JetStream with
	wedged      atomic.Bool            // an append failed as a write error would make it
	restarts    atomic.Int64           // restarts of JetStream since the last append that succeeded
	closing     atomic.Bool            // Close has begun: JetStream stopping is no fault to mend
	restartMu   sync.Mutex
	lastRestart time.Time

	closeOnce sync.Once
	closeErr  error
}

// Open connects to (or embeds) JetStream and creates or updates the ledger
// stream. Errors: EINVALID for a bad Config, ECONFLICT when another process
// holds the data directory, EINTERNAL for any infrastructure failure.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg.setDefaults()
	if err := validateStreamName(cfg.Stream); err != nil {
		return nil, err
	}
	if cfg.Replicas > 1 && cfg.URL == "" {
		return nil, domain.Errorf(domain.EINVALID, "event store: %d replicas need a NATS cluster (a URL); the embedded server is a single node", cfg.Replicas)
	}
	if err := checkAccess(&cfg); err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg, log: cfg.Logger.With("component", "eventstore")}
	if err := s.connect(); err != nil {
		s.shutdown()
		return nil, err
	}
	if err := s.ensureStream(ctx); err != nil {
		s.shutdown()
		return nil, err
	}
	return s, nil
}

func validateStreamName(name string) error {
	for _, r := range name {
		if r <= ' ' || r == '.' || r == '*' || r == '>' || r == '/' || r == '\\' {
			return domain.Errorf(domain.EINVALID, "stream name %q may not contain spaces, '.', '*', '>', '/' or '\\'", name)
		}
	}
	return nil
}

func (s *Store) connect() error {
	if s.cfg.URL != "" {
		creds, err := s.cfg.Credentials.options()
		if err != nil {
			return err
		}
		opts := append([]nats.Option{nats.Name("licledger-eventstore"), nats.MaxReconnects(-1), natsErrorHandler(s.log)}, creds...)
		nc, err := nats.Connect(s.cfg.URL, opts...)
		if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) || errors.Is(err, nats.ErrAuthRevoked) {
			return domain.Errorf(domain.EUNAUTHORIZED, "connect to NATS at %s with %s: %v", RedactURL(s.cfg.URL), s.cfg.Credentials, err)
		}
		if err != nil {
			return domain.Errorf(domain.EINTERNAL, "connect to NATS at %s: %v", RedactURL(s.cfg.URL), err)
		}
		return s.attach(nc)
	}
	if s.cfg.DataDir == "" {
		return domain.Errorf(domain.EINVALID, "event store: a data directory or a NATS URL is required")
	}
	if s.cfg.ReadOnly {
		if _, err := os.Stat(filepath.Join(s.cfg.DataDir, "jetstream")); err != nil {
			return domain.Errorf(domain.ENOTFOUND, "no ledger data in %s", s.cfg.DataDir)
		}
	}
	if err := os.MkdirAll(s.cfg.DataDir, 0o750); err != nil {
		return domain.Errorf(domain.EINTERNAL, "create data directory: %v", err)
	}
	unlock, err := lockDir(filepath.Join(s.cfg.DataDir, "LOCK"))
	if err != nil {
		return err
	}
	s.unlock = unlock
	opts := &server.Options{
		ServerName:         "licledger",
		JetStream:          true,
		StoreDir:           s.cfg.DataDir, // the server adds /jetstream
		SyncAlways:         s.cfg.SyncAlways,
		SyncInterval:       s.cfg.SyncInterval,
		NoSigs:             true,
		DontListen:         s.cfg.Listen == "",
		JetStreamMaxMemory: 64 << 20,
	}
	ledgerKey, signIn, err := ledgerIdentity()
	if err != nil {
		return err
	}
	if err := serverAuth(opts, &s.cfg, ledgerKey); err != nil {
		return err
	}
	if s.cfg.Listen != "" {
		host, port, err := net.SplitHostPort(s.cfg.Listen)
		if err != nil {
			return domain.Errorf(domain.EINVALID, "listen address %q: %v", s.cfg.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return domain.Errorf(domain.EINVALID, "listen address %q: bad port", s.cfg.Listen)
		}
		if p == 0 {
			p = server.RANDOM_PORT
		}
		opts.Host, opts.Port = host, p
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return domain.Errorf(domain.EINTERNAL, "configure embedded NATS server: %v", err)
	}
	srv.SetLogger(serverLogger{s.cfg.Logger.With("component", "nats-server")}, false, false)
	s.srv = srv
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		return domain.Errorf(domain.EINTERNAL, "embedded NATS server did not start within 30s (data directory %s)", s.cfg.DataDir)
	}
	s.jsConfig = embeddedConfig(srv, s.cfg.DataDir)
	nc, err := nats.Connect("", nats.InProcessServer(srv), nats.Name("licledger-eventstore"),
		signIn, natsErrorHandler(s.log))
	if err != nil {
		return domain.Errorf(domain.EINTERNAL, "connect to embedded NATS server: %v", err)
	}
	switch {
	case s.cfg.Listen == "":
	case opts.NoAuthUser != "":
		s.log.Warn("NO NATS USERS CONFIGURED: NATS clients connecting without credentials may read the ledger (never write it). This is only allowed on loopback; configure --nats-users FILE or LICLEDGER_NATS_USERS before exposing the port.",
			"nats_listen", srv.ClientURL())
	default:
		s.log.Info("NATS clients must authenticate; the configured users may only read", "nats_listen", srv.ClientURL(), "users", userNames(s.cfg.Users))
	}
	return s.attach(nc)
}

func (s *Store) attach(nc *nats.Conn) error {
	s.nc = nc
	js, err := jetstream.New(nc)
	if err != nil {
		return domain.Errorf(domain.EINTERNAL, "jetstream: %v", err)
	}
	s.js = js
	return nil
}

// StreamConfig is the configuration Open creates or updates the stream
// with. PersistMode stays the default, which writes a message to its file
// before acknowledging it (the SIGKILL guarantee of the package comment);
// JetStream refuses the async mode on a stream that allows atomic publish,
// so it cannot be switched on behind the store's back either.
//
// AllowDirect lets any replica answer reads by subject without a consumer:
// Load and the append head lookup use it. Open turns it on for a stream
// made without it (by hand, or by another tool) through the same update;
// a ReadOnly store changes nothing and reads such a stream from its
// leader instead, one message a round trip.
func (s *Store) StreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:               s.cfg.Stream,
		Description:        "licledger event log: one subject per aggregate, ledger.<kind>.<id>",
		Subjects:           []string{SubjectPrefix + ".>"},
		Storage:            jetstream.FileStorage,
		Retention:          jetstream.LimitsPolicy,
		Discard:            jetstream.DiscardNew, // a full stream refuses appends, never drops history
		MaxMsgs:            -1,
		MaxBytes:           -1,
		MaxAge:             0,
		Replicas:           s.cfg.Replicas,
		Duplicates:         s.cfg.DuplicateWindow,
		AllowAtomicPublish: true,
		AllowDirect:        true,
		DenyDelete:         !s.cfg.Mutable,
		DenyPurge:          !s.cfg.Mutable,
	}
}

func (s *Store) ensureStream(ctx context.Context) error {
	if s.cfg.ReadOnly {
		stream, err := s.js.Stream(ctx, s.cfg.Stream)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return domain.Errorf(domain.ENOTFOUND, "no stream %s: nothing was ever recorded here", s.cfg.Stream)
		}
		if err != nil {
			return domain.Errorf(domain.EINTERNAL, "look up stream %s: %v", s.cfg.Stream, err)
		}
		s.setStream(stream)
		return nil
	}
	cfg := s.StreamConfig()
	// A byte limit an operator set on the stream (a disk quota: with
	// DiscardNew it refuses appends, storage-full, and never drops history)
	// survives a restart instead of being reset to unlimited.
	if old, err := s.js.Stream(ctx, s.cfg.Stream); err == nil {
		if info := old.CachedInfo(); info != nil && info.Config.MaxBytes > 0 {
			cfg.MaxBytes = info.Config.MaxBytes
		}
	}
	stream, err := s.js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return domain.Errorf(domain.EINTERNAL, "create or update stream %s: %v", s.cfg.Stream, err)
	}
	s.setStream(stream)
	return nil
}

func (s *Store) setStream(stream jetstream.Stream) {
	s.stream = stream
	info := stream.CachedInfo()
	s.direct.Store(info != nil && info.Config.AllowDirect)
}

// Close closes the connection and, when embedded, shuts the server down.
// Appends acknowledged before Close are on disk. Close is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.shutdown() })
	return s.closeErr
}

func (s *Store) shutdown() error {
	s.closing.Store(true)
	var errs []error
	if s.nc != nil {
		if err := s.nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			errs = append(errs, fmt.Errorf("drain NATS connection: %w", err))
		}
		// Drain is asynchronous; wait (bounded) for it so the server below
		// shuts down with no client mid-request.
		deadline := time.Now().Add(5 * time.Second)
		for !s.nc.IsClosed() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		s.nc.Close()
	}
	if s.srv != nil {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
	}
	if s.unlock != nil {
		s.unlock()
	}
	if len(errs) > 0 {
		return domain.Errorf(domain.EINTERNAL, "close event store: %v", errors.Join(errs...))
	}
	return nil
}

// JetStream returns the store's JetStream handle, for billing consumers
// and benchmarks that need raw access. Writing to the stream through it
// bypasses the ledger's checks; Verify will report what that breaks.
func (s *Store) JetStream() jetstream.JetStream { return s.js }

// StreamName returns the name of the ledger stream.
func (s *Store) StreamName() string { return s.cfg.Stream }

// ClientURL returns the URL NATS clients can connect to: the embedded
// server's listen address when Config.Listen was set, the configured URL
// when external, and "" for an embedded server with no TCP port.
func (s *Store) ClientURL() string {
	if s.srv == nil {
		return s.cfg.URL
	}
	if s.cfg.Listen == "" {
		return ""
	}
	return s.srv.ClientURL()
}

// LastSeq returns the stream's last sequence (0 for an empty stream).
func (s *Store) LastSeq(ctx context.Context) (uint64, error) {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return 0, translate(err, "stream info")
	}
	return info.State.LastSeq, nil
}

// subjectOf maps an aggregate to its JetStream subject.
func subjectOf(agg domain.Aggregate) string {
	return SubjectPrefix + "." + agg.Kind + "." + agg.ID
}

// aggregateOfSubject maps a JetStream subject back to its aggregate.
func aggregateOfSubject(subject string) (domain.Aggregate, error) {
	rest, ok := strings.CutPrefix(subject, SubjectPrefix+".")
	if !ok {
		return domain.Aggregate{}, domain.Errorf(domain.EINVALID, "subject %q is not under %s.", subject, SubjectPrefix)
	}
	kind, id, ok := strings.Cut(rest, ".")
	if !ok {
		return domain.Aggregate{}, domain.Errorf(domain.EINVALID, "subject %q is not %s.<kind>.<id>", subject, SubjectPrefix)
	}
	return domain.ParseAggregate(kind + "/" + id)
}

// validAggregate checks an aggregate names a real kind and a valid id.
func validAggregate(agg domain.Aggregate) error {
	_, err := domain.ParseAggregate(agg.String())
	return err
}

// serverLogger sends the embedded server's log lines to slog. Notices are
// chatty startup banners, so they go to Debug.
type serverLogger struct{ l *slog.Logger }

func (l serverLogger) Noticef(format string, v ...any) { l.l.Debug(fmt.Sprintf(format, v...)) }
func (l serverLogger) Warnf(format string, v ...any)   { l.l.Warn(fmt.Sprintf(format, v...)) }
func (l serverLogger) Fatalf(format string, v ...any)  { l.l.Error(fmt.Sprintf(format, v...)) }
func (l serverLogger) Errorf(format string, v ...any)  { l.l.Error(fmt.Sprintf(format, v...)) }
func (l serverLogger) Debugf(format string, v ...any)  { l.l.Debug(fmt.Sprintf(format, v...)) }
func (l serverLogger) Tracef(format string, v ...any)  {}
