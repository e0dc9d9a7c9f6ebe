package eventstore

import (
	"context"
	"errors"
	"fmt"

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
)

// translate maps an infrastructure error onto the domain's error codes, so
// no caller ever switches on a NATS error. Context cancellation stays a
// wrapped context error (callers test it with errors.Is); its domain code
// is EINTERNAL like every unclassified error.
func translate(err error, op string) error {
	if err == nil {
		return nil
	}
	var derr *domain.Error
	if errors.As(err, &derr) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
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
		}
		return domain.Errorf(domain.EINTERNAL, "%s: JetStream error %d: %s", op, apiErr.ErrorCode, apiErr.Description)
	}
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return domain.Errorf(domain.ENOTFOUND, "%s: message not found", op)
	case errors.Is(err, nats.ErrMaxPayload):
		return domain.Reasonf(domain.EINVALID, domain.ReasonEventTooLarge, "%s: event larger than the server's max payload", op)
	case errors.Is(err, nats.ErrTimeout), errors.Is(err, jetstream.ErrNoStreamResponse):
		return domain.Errorf(domain.EINTERNAL, "%s: no answer from JetStream in time; the write may or may not be stored, retry it with the same event ids", op)
	}
	return domain.Errorf(domain.EINTERNAL, "%s: %v", op, err)
}

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
