package eventstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/licledger/licledger/domain"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// JetStream API error codes this adapter gives a meaning to.
const (
	codeWrongLastSequence         jetstream.ErrorCode = 10071 // Nats-Expected-Last-Subject-Sequence did not match
	codeWrongLastSequenceConstant jetstream.ErrorCode = 10164 // same, as replicated streams and batches report it
	codeMessageTooLarge           jetstream.ErrorCode = 10054
	codeBatchDuplicateMsgID       jetstream.ErrorCode = 10201 // atomic batch holds an already-stored Nats-Msg-Id

	// No room to store: storage-full.
	codeAccountResourcesExceeded jetstream.ErrorCode = 10002 // resource limits exceeded for account
	codeInsufficientResources    jetstream.ErrorCode = 10023 // insufficient resources
	codeMemoryResourcesExceeded  jetstream.ErrorCode = 10028 // insufficient memory resources available
	codeStorageResourcesExceeded jetstream.ErrorCode = 10047 // insufficient storage resources available
	codeStreamStoreFailed        jetstream.ErrorCode = 10077 // storing the message failed (a full disk, a write error)

	// No one to store: ledger-unavailable.
	codeClusterNotAvailable jetstream.ErrorCode = 10008 // JetStream system temporarily unavailable
	codeClusterNotLeader    jetstream.ErrorCode = 10009 // JetStream cluster can not handle request
	codeStreamOffline       jetstream.ErrorCode = 10118 // stream is offline
)

// translate maps an infrastructure error onto the domain's error codes, so
// no caller ever switches on a NATS error. Context cancellation stays a
// wrapped context error (callers test it with errors.Is); its domain code
// is EINTERNAL like every unclassified error. Failures of the ledger's
// infrastructure that a retry may cure are EUNAVAILABLE: storage-full when
// JetStream has no room, ledger-unavailable when it cannot be reached or
// has no stream leader, or did not answer in time (a read, or a write
// that publishFailed knows was never sent); the NATS error stays in the
// chain (errors.Is(err, context.DeadlineExceeded) still holds).
func translate(err error, op string) error {
	if err == nil {
		return nil
	}
	var derr *domain.Error
	if errors.As(err, &derr) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %w", op, err)
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case codeWrongLastSequence, codeWrongLastSequenceConstant:
			return domain.Reasonf(domain.ECONFLICT, domain.ReasonConcurrentUpdate,
				"%s: the aggregate changed since it was read; reload and retry", op)
		case codeBatchDuplicateMsgID:
			return domain.Reasonf(domain.EINVALID, domain.ReasonDuplicateID, "%s: an event id in the batch is already used by another event", op)
		case codeMessageTooLarge:
			return domain.Reasonf(domain.EINVALID, domain.ReasonEventTooLarge, "%s: event too large for the stream", op)
		case jetstream.JSErrCodeMessageNotFound:
			return domain.Errorf(domain.ENOTFOUND, "%s: message not found", op)
		case codeAccountResourcesExceeded, codeInsufficientResources, codeMemoryResourcesExceeded,
			codeStorageResourcesExceeded, codeStreamStoreFailed:
			return withCause(domain.Reasonf(domain.EUNAVAILABLE, domain.ReasonStorageFull,
				"%s: the event store has no room to store the write; nothing was written, retry later", op), err)
		case codeClusterNotAvailable, codeClusterNotLeader, codeStreamOffline:
			return withCause(domain.Reasonf(domain.EUNAVAILABLE, domain.ReasonLedgerUnavailable,
				"%s: the event store is not available (no stream leader); retry later", op), err)
		}
		return domain.Errorf(domain.EINTERNAL, "%s: JetStream error %d: %s", op, apiErr.ErrorCode, apiErr.Description)
	}
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return domain.Errorf(domain.ENOTFOUND, "%s: message not found", op)
	case errors.Is(err, nats.ErrMaxPayload):
		return domain.Reasonf(domain.EINVALID, domain.ReasonEventTooLarge, "%s: event larger than the server's max payload", op)
	case unreachable(err):
		return withCause(domain.Reasonf(domain.EUNAVAILABLE, domain.ReasonLedgerUnavailable,
			"%s: the event store cannot be reached or did not answer in time; retry later", op), err)
	}
	return domain.Errorf(domain.EINTERNAL, "%s: %v", op, err)
}

// unreachable reports whether err says that NATS or the stream could not
// be reached, or did not answer in time.
func unreachable(err error) bool {
	for _, target := range []error{
		nats.ErrTimeout, context.DeadlineExceeded, jetstream.ErrNoStreamResponse, nats.ErrNoResponders,
		nats.ErrConnectionClosed, nats.ErrConnectionDraining, nats.ErrConnectionReconnecting,
		nats.ErrDisconnected, nats.ErrReconnectBufExceeded, nats.ErrNoServers, nats.ErrStaleConnection,
		jetstream.ErrJetStreamNotEnabled, jetstream.ErrJetStreamNotEnabledForAccount,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// publishFailed translates the error of a publish that sent the records
// with ids. A timeout while the caller still waits means the publish went
// out but no acknowledgement came back: the write may or may not be
// stored, so the answer is outcome-unknown, naming the ids to retry with
// (a retry with the same ids, or the command's same Idempotency-Key, is
// recognised as already stored if it landed). Everything else is
// translate's.
func publishFailed(err error, op string, ids []string) error {
	if !errors.Is(err, context.Canceled) && (errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded)) {
		return &causedError{derr: domain.Reasonf(domain.EUNAVAILABLE, domain.ReasonOutcomeUnknown,
			"%s: the event store did not acknowledge the write in time; it may or may not be stored: retry it with the same event ids (%s)",
			op, strings.Join(ids, ", ")), cause: err, ids: ids}
	}
	return translate(err, op)
}

// causedError is a domain error that keeps the infrastructure error it was
// translated from in its chain: errors.As finds the domain error, errors.Is
// the cause; the message for a client (domain.ErrorMessage) is the domain
// error's alone, the log's (Error) has both.
type causedError struct {
	derr  *domain.Error
	cause error
	ids   []string // of an unconfirmed write: the event ids to retry it with
}

// UnconfirmedIDs returns the event ids of the write an outcome-unknown
// error left unconfirmed (nil for any other error): a retry with the same
// ids, or the command's same Idempotency-Key, is recognised as already
// stored if it landed. The HTTP API shows them to the client.
func UnconfirmedIDs(err error) []string {
	var c *causedError
	if errors.As(err, &c) {
		return c.ids
	}
	return nil
}

func withCause(derr *domain.Error, cause error) error { return &causedError{derr: derr, cause: cause} }

func (e *causedError) Error() string   { return e.derr.Error() + ": " + e.cause.Error() }
func (e *causedError) Unwrap() []error { return []error{e.derr, e.cause} }

// apiErrorCode returns the JetStream API error code in err's chain, or 0.
func apiErrorCode(err error) jetstream.ErrorCode {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode
	}
	return 0
}

// isConflict reports whether err is the domain's ECONFLICT.
func isConflict(err error) bool { return domain.ErrorCode(err) == domain.ECONFLICT }
