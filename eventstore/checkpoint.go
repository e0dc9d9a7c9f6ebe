package eventstore

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"

	"github.com/licledger/licledger/domain"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Where checkpoints live: a second JetStream stream beside the log,
// <stream>_CHECKPOINTS on the subject licledger.checkpoints.<stream>, one
// message per checkpoint, with deletes and purges denied like the log's.
// Not in the log itself (a checkpoint is not an event of any aggregate and
// would shift the sequences it commits to), and not in the SQLite
// projections (those are rebuilt from the log, are per replica, and a
// rebuild would lose them). The stream survives restarts, is replicated
// with the log on a cluster and is read by every replica alike. Keeping
// them there does not make them evidence: whoever can rewrite the log may
// rewrite this stream too. An auditor keeps copies of their own, anywhere
// outside the ledger; that copy is what `audit verify --checkpoint` checks
// the log against.

// CheckpointSubjectPrefix is the first two tokens of the checkpoint
// stream's subject (outside ledger.>, so events and checkpoints never mix).
const CheckpointSubjectPrefix = "licledger.checkpoints"

// CheckpointStream is the name of the stream checkpoints of stream are kept in.
func CheckpointStream(stream string) string { return stream + "_CHECKPOINTS" }

func (s *Store) checkpointStreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        CheckpointStream(s.cfg.Stream),
		Description: "licledger signed checkpoints of stream " + s.cfg.Stream,
		Subjects:    []string{CheckpointSubjectPrefix + "." + s.cfg.Stream},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardNew,
		MaxMsgs:     -1,
		MaxBytes:    -1,
		Replicas:    s.cfg.Replicas,
		AllowDirect: true,
		DenyDelete:  true,
		DenyPurge:   true,
	}
}

// Signer signs checkpoints: the ledger's key (adapters/ledgerkey.Key).
type Signer interface {
	ID() string
	Sign(msg []byte) []byte
}

// Seal computes the checkpoint of the log up to its last sequence now,
// unsigned: its heads' Merkle root, counts and authorship. It refuses
// (ECONFLICT, log-does-not-verify) a log that does not verify (a deleted, malformed or
// re-chained message): the ledger does not vouch for a damaged log; run
// `licledger audit verify`. It needs the mark key (EINVALID without): a
// checkpoint states which events the ledger wrote. progress as Verify's.
func (s *Store) Seal(ctx context.Context, progress func(done, total uint64)) (domain.Checkpoint, error) {
	if s.cfg.Mark == nil {
		return domain.Checkpoint{}, domain.Errorf(domain.EINVALID, "a checkpoint needs the ledger key: open the store with its mark key")
	}
	last, err := s.LastSeq(ctx)
	if err != nil {
		return domain.Checkpoint{}, err
	}
	w := newWalk(s.cfg.Mark)
	var mark string
	if progress != nil {
		progress(0, last)
	}
	if last > 0 {
		for rec, err := range s.Read(ctx, 1, UntilSeq(last), withMsg(func(m jetstream.Msg) { mark = m.Headers().Get(MarkHeader) })) {
			if err := w.add(rec, err, mark); err != nil {
				return domain.Checkpoint{}, err
			}
			if progress != nil && w.messages%1000 == 0 {
				progress(rec.Seq, last)
			}
		}
	}
	w.end(last)
	for _, p := range w.problems {
		if p.Kind != ProblemForeign {
			return domain.Checkpoint{}, domain.Reasonf(domain.ECONFLICT, domain.ReasonLogDoesNotVerify,
				"the log does not verify (first problem at stream sequence %d: %s), so the ledger signs no checkpoint; run `licledger audit verify`", p.Seq, p.Kind)
		}
	}
	root, err := domain.CheckpointRoot(w.heads())
	if err != nil {
		return domain.Checkpoint{}, err
	}
	if progress != nil {
		progress(last, last)
	}
	return domain.Checkpoint{
		Format:         domain.CheckpointFormat,
		Stream:         s.cfg.Stream,
		LastSeq:        last,
		Time:           s.cfg.Now().Round(0).UTC(),
		Aggregates:     len(w.aggs),
		Events:         w.events,
		Root:           root,
		LegacyUnmarked: w.auth.legacy,
		Foreign:        append([]uint64{}, w.auth.foreign...),
		KeyID:          s.cfg.Mark.ID,
	}, nil
}

// Sign sets the checkpoint's key id and signature.
func Sign(cp domain.Checkpoint, k Signer) domain.Checkpoint {
	cp.KeyID = k.ID()
	cp.Signature = base64.RawURLEncoding.EncodeToString(k.Sign(cp.SignedBytes()))
	return cp
}

// WriteCheckpoint seals the log, signs the checkpoint with k and keeps it
// in the checkpoint stream. Errors: Seal's; EFORBIDDEN on a ReadOnly
// store; EINTERNAL when the checkpoint stream cannot be written.
func (s *Store) WriteCheckpoint(ctx context.Context, k Signer) (domain.Checkpoint, error) {
	if s.cfg.ReadOnly {
		return domain.Checkpoint{}, domain.Errorf(domain.EFORBIDDEN, "write a checkpoint: the event store was opened read-only")
	}
	cp, err := s.Seal(ctx, nil)
	if err != nil {
		return cp, err
	}
	cp = Sign(cp, k)
	b, err := json.Marshal(cp)
	if err != nil {
		return cp, domain.Errorf(domain.EINTERNAL, "encode checkpoint: %v", err)
	}
	cfg := s.checkpointStreamConfig()
	if _, err := s.js.CreateOrUpdateStream(ctx, cfg); err != nil {
		return cp, domain.Errorf(domain.EINTERNAL, "create or update stream %s: %v", cfg.Name, err)
	}
	if _, err := s.js.Publish(ctx, cfg.Subjects[0], b); err != nil {
		return cp, translate(err, "store checkpoint")
	}
	return cp, nil
}

// CheckpointIfGrown writes a checkpoint when the log has grown since the
// latest one (or none was written and the log is not empty), and reports
// whether it did: what the
// periodic and the shutdown checkpoints of serve call, so an idle ledger
// does not pile up identical checkpoints.
func (s *Store) CheckpointIfGrown(ctx context.Context, k Signer) (domain.Checkpoint, bool, error) {
	if s.nc != nil && !s.nc.IsConnected() {
		// At shutdown with NATS gone: say so now, not after a timeout.
		return domain.Checkpoint{}, false, translate(nats.ErrConnectionReconnecting, "checkpoint")
	}
	last, err := s.LastSeq(ctx)
	if err != nil {
		return domain.Checkpoint{}, false, err
	}
	if last == 0 {
		return domain.Checkpoint{}, false, nil // nothing to seal yet
	}
	latest, err := s.LatestCheckpoint(ctx)
	switch {
	case err == nil && latest.LastSeq >= last:
		return latest, false, nil
	case err != nil && domain.ErrorCode(err) != domain.ENOTFOUND:
		return domain.Checkpoint{}, false, err
	}
	cp, err := s.WriteCheckpoint(ctx, k)
	return cp, err == nil, err
}

// Checkpoints returns up to limit kept checkpoints (limit <= 0: all),
// newest first; none when no checkpoint was ever written.
func (s *Store) Checkpoints(ctx context.Context, limit int) ([]domain.Checkpoint, error) {
	var out []domain.Checkpoint
	for cp, err := range s.checkpoints(ctx) {
		if err != nil {
			return nil, err
		}
		out = append(out, cp)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out, nil
}

// LatestCheckpoint returns the newest checkpoint; ENOTFOUND when none was
// ever written.
func (s *Store) LatestCheckpoint(ctx context.Context) (domain.Checkpoint, error) {
	cps, err := s.Checkpoints(ctx, 1)
	if err != nil {
		return domain.Checkpoint{}, err
	}
	if len(cps) == 0 {
		return domain.Checkpoint{}, domain.Reasonf(domain.ENOTFOUND, domain.ReasonNoCheckpoint, "no checkpoint of stream %s was written yet", s.cfg.Stream)
	}
	return cps[0], nil
}

// checkpoints yields the kept checkpoints newest first, one get by
// sequence each (a listing is a handful, never the whole stream).
func (s *Store) checkpoints(ctx context.Context) iter.Seq2[domain.Checkpoint, error] {
	return func(yield func(domain.Checkpoint, error) bool) {
		name := CheckpointStream(s.cfg.Stream)
		st, err := s.js.Stream(ctx, name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return
		}
		if err != nil {
			yield(domain.Checkpoint{}, translate(err, "look up "+name))
			return
		}
		info, err := st.Info(ctx)
		if err != nil {
			yield(domain.Checkpoint{}, translate(err, "stream info "+name))
			return
		}
		for seq := info.State.LastSeq; seq >= max(info.State.FirstSeq, 1) && seq > 0; seq-- {
			m, err := st.GetMsg(ctx, seq)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			if err != nil {
				yield(domain.Checkpoint{}, translate(err, "read checkpoint"))
				return
			}
			var cp domain.Checkpoint
			if err := json.Unmarshal(m.Data, &cp); err != nil {
				yield(domain.Checkpoint{}, domain.Errorf(domain.EINTERNAL, "checkpoint at %s sequence %d is not JSON: %v", name, seq, err))
				return
			}
			if !yield(cp, nil) {
				return
			}
		}
	}
}

// CheckpointReport is what VerifyCheckpoint found.
type CheckpointReport struct {
	Checkpoint domain.Checkpoint `json:"checkpoint"`
	// Signature is "valid" or why not.
	Signature string `json:"signature"`
	// Root is the Merkle root recomputed from the log up to the
	// checkpoint's last sequence, with its counts.
	Root       string `json:"root"`
	Events     uint64 `json:"events"`
	Aggregates int    `json:"aggregates"`
	// Unsealed are the events after the checkpoint: not yet sealed by it.
	Unsealed Unsealed  `json:"unsealed"`
	Problems []Problem `json:"problems"`
}

// Unsealed counts the events after a checkpoint.
type Unsealed struct {
	Events   uint64 `json:"events"`
	FirstSeq uint64 `json:"first_seq,omitempty"`
	LastSeq  uint64 `json:"last_seq,omitempty"`
}

// Kinds of Problem that only VerifyCheckpoint reports.
const (
	// ProblemTruncated: the log ends before the checkpoint's last
	// sequence: sealed events were removed from its tail.
	ProblemTruncated = "truncated"
	// ProblemRootMismatch: the heads recomputed from the log are not the
	// ones the checkpoint committed to: the history was rewritten.
	ProblemRootMismatch = "root-mismatch"
	// ProblemBadSignature: the checkpoint is not signed by the key given.
	ProblemBadSignature = "bad-signature"
	// ProblemOtherStream: the checkpoint is of another stream.
	ProblemOtherStream = "other-stream"
)

// OK reports whether the log holds exactly what the checkpoint committed to.
func (r CheckpointReport) OK() bool { return len(r.Problems) == 0 }

// VerifyCheckpoint checks that log (a whole log in stream order: Read from
// 1, or the lines of a full export) holds exactly what cp committed to:
// the signature verifies with pub, every sequence up to cp.LastSeq is
// there and chains, and the heads as of cp.LastSeq hash to cp.Root.
// stream, if not "", is the live stream's name (an export does not say).
// Events after cp.LastSeq are counted as unsealed, chains still checked.
// The error is only for failing to read the log.
func VerifyCheckpoint(cp domain.Checkpoint, pub []byte, stream string, log iter.Seq2[Record, error]) (CheckpointReport, error) {
	rep := CheckpointReport{Checkpoint: cp, Signature: "valid"}
	if err := cp.VerifySignature(pub); err != nil {
		rep.Signature = domain.ErrorMessage(err)
		rep.Problems = append(rep.Problems, Problem{Kind: ProblemBadSignature, Detail: rep.Signature})
	}
	if stream != "" && cp.Stream != stream {
		rep.Problems = append(rep.Problems, Problem{Kind: ProblemOtherStream,
			Detail: fmt.Sprintf("the checkpoint is of stream %s, the log is stream %s", cp.Stream, stream)})
	}
	w := newWalk(nil)
	sealed := false // the walk has reached cp.LastSeq and the heads are taken
	seal := func() {
		sealed = true
		w.end(cp.LastSeq)
		w.prev = max(w.prev, cp.LastSeq)
		rep.Events, rep.Aggregates = w.events, len(w.aggs)
		root, err := domain.CheckpointRoot(w.heads())
		if err != nil {
			root = err.Error()
		}
		rep.Root = root
	}
	for rec, err := range log {
		if !sealed && rec.Seq > cp.LastSeq && err == nil {
			seal()
		}
		if err := w.add(rec, err, ""); err != nil {
			return rep, err
		}
		if sealed {
			u := &rep.Unsealed
			u.Events++
			u.LastSeq = rec.Seq
			if u.FirstSeq == 0 {
				u.FirstSeq = rec.Seq
			}
		}
	}
	if !sealed {
		if w.prev < cp.LastSeq {
			w.report(Problem{Seq: w.prev + 1, Kind: ProblemTruncated,
				Detail: fmt.Sprintf("the log ends at stream sequence %d, but the checkpoint sealed up to %d: %d sealed event(s) are gone from its tail", w.prev, cp.LastSeq, cp.LastSeq-w.prev)})
			w.prev = cp.LastSeq // not also reported as missing
		}
		seal()
	}
	if rep.Root != cp.Root || rep.Events != cp.Events || rep.Aggregates != cp.Aggregates {
		w.report(Problem{Seq: cp.LastSeq, Kind: ProblemRootMismatch,
			Detail: fmt.Sprintf("up to stream sequence %d the log holds %d event(s) of %d aggregate(s) with root %s; the checkpoint committed to %d event(s) of %d aggregate(s) with root %s: the history was rewritten",
				cp.LastSeq, rep.Events, rep.Aggregates, rep.Root, cp.Events, cp.Aggregates, cp.Root)})
	}
	rep.Problems = append(rep.Problems, w.problems...)
	slices.SortStableFunc(rep.Problems, func(a, b Problem) int { return cmp.Compare(a.Seq, b.Seq) })
	if rep.Problems == nil {
		rep.Problems = []Problem{}
	}
	return rep, nil
}
