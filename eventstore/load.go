package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// How Load reads an aggregate.
//
// Load asks JetStream for the aggregate's messages by subject with a
// batched direct get (jetstreamext.GetBatch): one request, answered by a
// replica of the stream with up to loadBatch messages and an end-of-batch
// marker, each message telling how many more match. There is no consumer
// to create, feed or lose, so nothing waits for a heartbeat: the ordered
// consumer Load used before could get neither messages nor heartbeats on
// a healthy cluster and sat out two missed 5s heartbeats before resetting
// (issue 13: p99 10s). And the server finds the subject's messages through
// its per-subject index, so the cost follows the aggregate's length, not
// the log's.
//
// Every wait is bounded. Each request waits at most loadAttempt and the
// whole Load at most Config.LoadTimeout (or the caller's earlier
// deadline). An answer cut short keeps what it delivered and the next
// request continues after it; a request that got no answer at all is
// sent again while the deadline allows.
//
// Replicas answer direct gets, and a follower applies an append a moment
// after the leader acknowledged it. So Load knows the newest stream
// sequence this Store has seen on the subject (its own appends, and every
// head it fetched) and does not return a history that ends before it:
// it asks again for the rest, and after staleRetries asks the stream
// leader itself (the JetStream API's message get, one message per round
// trip). A stream without direct get (a ReadOnly store on a stream made
// elsewhere, or a server without batched direct get) is read that way
// too. Another process's append acknowledged a moment ago may still be
// missing from a follower's answer: commands are safe anyway, because
// every append names the subject's last sequence and the leader refuses
// a stale one (ECONFLICT, and the Executor retries on fresh state).

const (
	// loadBatch is how many messages one direct get asks for: one round
	// trip for nearly every aggregate.
	loadBatch = 1000
	// loadAttempt bounds one request of a Load. A healthy server answers
	// a batch in milliseconds; a request lost with a dying node is sent
	// again after this instead of waiting out the whole Load.
	loadAttempt = time.Second
	// staleRetries is how often Load asks replicas again for an answer
	// that ends before what this Store knows is stored, before it asks
	// the stream leader.
	staleRetries = 3
	// numPendingHeader is on every message of a batched direct get: how
	// many messages after it match the request.
	numPendingHeader = "Nats-Num-Pending"
	// apiPrefix is the JetStream API's subject prefix; the store's
	// JetStream handle uses the default (no domain, no custom prefix).
	apiPrefix = "$JS.API."
)

// Load returns the aggregate's events in order (empty, not an error, for
// an aggregate with none). It also refreshes the append cache, so an
// Append right after a Load (the command loop) is one round trip. It
// returns within Config.LoadTimeout, answered or not, and never returns
// a history older than this Store's own appends to the aggregate.
//
// Load fails closed: a malformed message on the aggregate's subject, or a
// gap in its versions, is an EINTERNAL error naming the stream sequence,
// because deciding on a damaged history would be wrong. `licledger audit
// verify` reports every such problem. Other errors: EINVALID for a bad
// aggregate, EINTERNAL for infrastructure failures, EUNAVAILABLE
// (ledger-unavailable) when JetStream cannot be reached or no complete
// answer came within Config.LoadTimeout or the caller's deadline (then
// errors.Is(err, context.DeadlineExceeded) holds); a wrapped context error
// when the caller canceled.
func (s *Store) Load(ctx context.Context, agg domain.Aggregate) ([]Record, error) {
	if err := validAggregate(agg); err != nil {
		return nil, err
	}
	l := &loader{s: s, agg: agg, subject: subjectOf(agg), next: 1}
	lctx, cancel := context.WithTimeout(ctx, s.cfg.LoadTimeout)
	defer cancel()
	if err := l.run(lctx); err != nil {
		if ctx.Err() != nil {
			return nil, translate(ctx.Err(), "load "+agg.String())
		}
		if lctx.Err() != nil {
			return nil, domain.Reasonf(domain.EUNAVAILABLE, domain.ReasonLedgerUnavailable, "load %s: no complete answer from JetStream within %s (%d events read); retry",
				agg, s.cfg.LoadTimeout, len(l.out))
		}
		return nil, err
	}
	if n := len(l.out); n > 0 {
		last := l.out[n-1]
		s.heads.advance(l.subject, head{seq: last.Seq, version: last.Event.AggregateVersion, digest: domain.Digest(last.Raw), time: last.Event.Time})
	}
	return l.out, nil
}

// loader is one Load in progress.
type loader struct {
	s       *Store
	agg     domain.Aggregate
	subject string
	out     []Record
	next    uint64 // the stream sequence to read on from
}

// errNoDirect says the stream does not answer batched direct gets.
var errNoDirect = errors.New("no batched direct get")

func (l *loader) run(ctx context.Context) error {
	var known uint64 // the newest sequence on the subject this Store has seen
	if hd, ok := l.s.heads.get(l.subject); ok {
		known = hd.seq
	}
	if !l.s.direct.Load() {
		return l.fromLeader(ctx)
	}
	stale := 0
	for {
		complete, err := l.directBatch(ctx)
		if errors.Is(err, errNoDirect) {
			return l.fromLeader(ctx)
		}
		if err != nil {
			return err
		}
		if !complete {
			continue // a full batch, or an answer cut short: read on from l.next
		}
		if l.next > known {
			return nil
		}
		// The replica that answered has not applied what this Store
		// knows is stored yet; what it gave is still a true prefix.
		if stale++; stale > staleRetries {
			return l.fromLeader(ctx)
		}
		l.s.log.Debug("load: replica behind this store's last append; asking again", "aggregate", l.agg.String(), "have", l.next-1, "known", known)
		if err := sleep(ctx, backoff(stale-1)); err != nil {
			return err
		}
	}
}

// directBatch sends one batched direct get from l.next and takes what it
// delivers. complete reports that the answer said nothing more matches.
func (l *loader) directBatch(ctx context.Context) (complete bool, err error) {
	actx, cancel := context.WithTimeout(ctx, loadAttempt)
	defer cancel()
	msgs, err := jetstreamext.GetBatch(actx, l.s.js, l.s.cfg.Stream, loadBatch,
		jetstreamext.GetBatchSeq(l.next), jetstreamext.GetBatchSubject(l.subject))
	if err != nil {
		return false, translate(err, "load "+l.agg.String())
	}
	got := 0
	pending := uint64(1)
	for m, err := range msgs {
		switch {
		case errors.Is(err, jetstreamext.ErrNoMessages):
			return true, nil // nothing on the subject from l.next on
		case errors.Is(err, jetstreamext.ErrBatchUnsupported):
			// No batched direct get here: no responders (direct gets
			// off), or a server older than 2.11.
			return false, errNoDirect
		case err != nil:
			return false, translate(err, "load "+l.agg.String())
		}
		if err := l.add(m.Sequence, m.Subject, m.Data); err != nil {
			return false, err
		}
		got++
		n, perr := strconv.ParseUint(m.Header.Get(numPendingHeader), 10, 64)
		if perr != nil {
			return false, domain.Errorf(domain.EINTERNAL, "load %s: direct get answered with a bad %s header", l.agg, numPendingHeader)
		}
		pending = n
	}
	// The iterator ends quietly at the end-of-batch marker, and also when
	// the attempt timed out: the last message's pending count tells them
	// apart.
	if got > 0 {
		return pending == 0, nil
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if actx.Err() != nil {
		l.s.log.Debug("load: a direct get got no answer in time; asking again", "aggregate", l.agg.String(), "from", l.next)
		return false, nil
	}
	return false, domain.Errorf(domain.EINTERNAL, "load %s: direct get ended without an answer", l.agg)
}

// fromLeader reads the rest of the aggregate, from l.next, from the stream
// leader: the JetStream API's message get answers only there, one message
// a round trip.
func (l *loader) fromLeader(ctx context.Context) error {
	for {
		m, err := l.s.leaderNext(ctx, l.subject, l.next)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return translate(err, "load "+l.agg.String())
		}
		if err := l.add(m.Sequence, m.Subject, m.Data); err != nil {
			return err
		}
	}
}

// add decodes one message of the aggregate and checks it is the next
// version.
func (l *loader) add(seq uint64, subject string, data []byte) error {
	rec, err := decodeRecord(seq, subject, data)
	if err != nil {
		return domain.Errorf(domain.EINTERNAL, "load %s: %v; run `licledger audit verify`", l.agg, err)
	}
	if want := uint64(len(l.out) + 1); rec.Event.AggregateVersion != want {
		return domain.Errorf(domain.EINTERNAL,
			"load %s: stream sequence %d holds version %d where version %d belongs; the history is damaged, run `licledger audit verify`",
			l.agg, seq, rec.Event.AggregateVersion, want)
	}
	l.out = append(l.out, rec)
	l.next = seq + 1
	return nil
}

// leaderNext returns the first message on subject at or after seq, as the
// stream leader has it (jetstream.ErrMsgNotFound when there is none).
func (s *Store) leaderNext(ctx context.Context, subject string, seq uint64) (*jetstream.RawStreamMsg, error) {
	return s.leaderGet(ctx, msgGetRequest{Seq: seq, NextFor: subject})
}

// leaderGet gets one message from the stream leader through the
// JetStream API: the client's Stream.GetMsg switches to direct get, which
// replicas answer, whenever the stream allows it. A request that gets no
// answer within loadAttempt is sent again while ctx allows (the leader
// may have just moved).
func (s *Store) leaderGet(ctx context.Context, get msgGetRequest) (*jetstream.RawStreamMsg, error) {
	req, err := json.Marshal(get)
	if err != nil {
		return nil, err
	}
	for {
		actx, cancel := context.WithTimeout(ctx, loadAttempt)
		resp, err := s.nc.RequestWithContext(actx, apiPrefix+"STREAM.MSG.GET."+s.cfg.Stream, req)
		cancel()
		if err != nil && ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrNoResponders)) {
			if err := sleep(ctx, backoff(0)); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		var r msgGetResponse
		if err := json.Unmarshal(resp.Data, &r); err != nil {
			return nil, fmt.Errorf("message get: bad answer: %w", err)
		}
		if r.Error != nil {
			if r.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound {
				return nil, jetstream.ErrMsgNotFound
			}
			return nil, r.Error
		}
		if r.Message == nil {
			return nil, jetstream.ErrInvalidJetStreamResponse
		}
		return &jetstream.RawStreamMsg{Subject: r.Message.Subject, Sequence: r.Message.Sequence, Data: r.Message.Data, Time: r.Message.Time}, nil
	}
}

// msgGetRequest and msgGetResponse are the JetStream API's message get
// ($JS.API.STREAM.MSG.GET.<stream>), as far as Load needs them.
type msgGetRequest struct {
	Seq     uint64 `json:"seq,omitempty"`
	NextFor string `json:"next_by_subj,omitempty"`
	LastFor string `json:"last_by_subj,omitempty"`
}

type msgGetResponse struct {
	Error   *jetstream.APIError `json:"error,omitempty"`
	Message *struct {
		Subject  string    `json:"subject"`
		Sequence uint64    `json:"seq"`
		Data     []byte    `json:"data,omitempty"`
		Time     time.Time `json:"time"`
	} `json:"message,omitempty"`
}
