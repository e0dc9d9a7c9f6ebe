package eventstore

// Whether the store can take a write now, and getting the embedded server
// writing again after a write error, without restarting the process.
//
// What JetStream does on a write error (nats-server 2.15): the stream's
// file store keeps the first error (a full disk, a file size limit, an
// I/O error) and refuses every later write with it, sending the
// publisher no answer at all, so each append waits out its deadline; on
// "no space left" the server also shuts JetStream down. Neither state
// ends when space is freed: the store stays in it until JetStream is
// started again, which reopens every stream from its files (a write that
// failed half-way is cut off there). For the embedded server that is
// this process's to do: the store notices the state (an append that got
// no answer, JetStream off) and, once the cause is gone, restarts
// JetStream on the same directory in place; the NATS connection, the
// Executors and the projections keep running. An external server or
// cluster is its operator's: there Health only reports.

import (
	"context"
	"strings"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

const (
	// minRoom is the room below a stream's or account's byte limit at
	// which Health calls the store full: about one event.
	minRoom = 1 << 10
	// restartEvery spaces out restarts of the embedded JetStream while
	// its write error persists (the disk is still full), doubling after
	// each restart that did not help, up to restartEveryMax: each costs
	// the one append it lets through a deadline (it is answered
	// outcome-unknown), every other append is refused at once.
	restartEvery    = time.Second
	restartEveryMax = 8 * time.Second
	// minFree is the free space the embedded store's file system must
	// have before JetStream is restarted after a write error.
	minFree = 1 << 20
)

// Health reports whether an append could succeed now, without appending
// anything: nil, or EUNAVAILABLE with the reason a command would get
// (ledger-unavailable: not connected, JetStream or the stream's leader
// unreachable; storage-full: the stream or the account is at its byte
// limit, or the embedded server has a write error). On an embedded store
// with a write error it first tries to get JetStream writing again (see
// the top of this file). It returns within Config.LoadTimeout.
func (s *Store) Health(ctx context.Context) error {
	if s.nc != nil && !s.nc.IsConnected() {
		return translate(nats.ErrConnectionReconnecting, "event store health")
	}
	if s.srv != nil {
		if err := s.embeddedHealth(); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.LoadTimeout)
	defer cancel()
	info, err := s.stream.Info(ctx)
	if err != nil {
		return translate(err, "event store health: stream info")
	}
	if info.Cluster != nil && info.Cluster.Leader == "" {
		return domain.Reasonf(domain.EUNAVAILABLE, domain.ReasonLedgerUnavailable,
			"stream %s has no leader: the cluster is electing one or has lost its quorum", s.cfg.Stream)
	}
	if limit := info.Config.MaxBytes; limit > 0 && info.State.Bytes+minRoom > uint64(limit) {
		return domain.Reasonf(domain.EUNAVAILABLE, domain.ReasonStorageFull,
			"stream %s holds %d bytes of its limit of %d", s.cfg.Stream, info.State.Bytes, limit)
	}
	// The account's limit is best effort: the stream info above proved
	// the store reachable, and an operator's user may lack $JS.API.INFO.
	if acct, err := s.js.AccountInfo(ctx); err == nil && acct.Limits.MaxStore > 0 && acct.Store+minRoom > uint64(acct.Limits.MaxStore) {
		limit := acct.Limits.MaxStore
		return domain.Reasonf(domain.EUNAVAILABLE, domain.ReasonStorageFull,
			"the ledger's NATS account stores %d bytes of its limit of %d", acct.Store, limit)
	}
	return nil
}

// embeddedHealth checks the embedded server's JetStream and streams for a
// write error; with one, it restarts JetStream (at most every
// restartEvery) and checks again. It clears the wedged mark once healthy.
func (s *Store) embeddedHealth() error {
	st := s.srv.Healthz(nil)
	if st.Status == "ok" {
		s.wedged.Store(false)
		return nil
	}
	if s.restartJetStream() {
		if st = s.srv.Healthz(nil); st.Status == "ok" {
			s.wedged.Store(false)
			return nil
		}
	}
	s.wedged.Store(true)
	problem := st.Error
	if problem == "" {
		problem = st.Status
	}
	if !s.srv.JetStreamEnabled() || writeFull(problem) {
		return domain.Reasonf(domain.EUNAVAILABLE, domain.ReasonStorageFull,
			"the embedded event store cannot write (%s); nothing was written: free space in %s, it resumes by itself", problem, s.cfg.DataDir)
	}
	return domain.Reasonf(domain.EUNAVAILABLE, domain.ReasonLedgerUnavailable, "the embedded event store is not healthy: %s", problem)
}

// writeFull says a write error means no room: a full disk, a quota, a
// file size limit.
func writeFull(problem string) bool {
	p := strings.ToLower(problem)
	for _, s := range []string{"no space left", "quota", "file too large", "disabled", "not enabled"} {
		if strings.Contains(p, s) {
			return true
		}
	}
	return false
}

// restartJetStream restarts the embedded JetStream on the same store
// directory, reopening every stream and clearing their write errors; it
// reports whether it ran (not within restartEvery of the last run).
func (s *Store) restartJetStream() bool {
	s.restartMu.Lock()
	defer s.restartMu.Unlock()
	if s.closing.Load() {
		return false // Close is shutting JetStream down: not a write error
	}
	wait := min(restartEvery<<min(s.restarts.Load(), 8), restartEveryMax)
	if !s.lastRestart.IsZero() && time.Since(s.lastRestart) < wait {
		return false
	}
	s.lastRestart = time.Now()
	if free, ok := freeBytes(s.cfg.DataDir); ok && free < minFree {
		return false // the disk is still full: a restart would only fail the next write again
	}
	s.restarts.Add(1)
	s.log.Warn("the embedded event store cannot write; restarting JetStream on the same data directory", "data_dir", s.cfg.DataDir)
	if s.srv.JetStreamEnabled() {
		if err := s.srv.ShutdownJetStream(); err != nil {
			s.log.Error("stop JetStream for a restart", "err", err)
			return true
		}
	}
	cfg := s.jsConfig
	if err := s.srv.EnableJetStream(&cfg); err != nil {
		s.log.Error("restart JetStream; trying again on the next command or /readyz", "err", err)
		return true
	}
	s.log.Info("JetStream restarted on the same data directory")
	return true
}

// noteWriteFailure marks an embedded store whose append failed in a way a
// write error explains (no answer, no room, JetStream off), so the next
// append checks and mends the server first instead of waiting out
// another deadline.
func (s *Store) noteWriteFailure(err error) {
	if s.srv == nil || domain.ErrorCode(err) != domain.EUNAVAILABLE {
		return
	}
	s.wedged.Store(true)
}

// embeddedConfig is the JetStream configuration to restart the embedded
// server's JetStream with: the running one, with the store directory as
// EnableJetStream takes it (it adds the "jetstream" itself).
func embeddedConfig(srv *server.Server, dataDir string) server.JetStreamConfig {
	cfg := *srv.JetStreamConfig()
	cfg.StoreDir = dataDir
	return cfg
}
