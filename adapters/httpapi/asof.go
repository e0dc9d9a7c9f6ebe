package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/licledger/licledger/domain"
)

// Reproducible views (R32). Every view answers with its log position,
// "as_of": {"time": the instant it answers for, with its full precision,
// "seq": the stream sequence of the last event it includes}, and takes one
// back: ?at= (RFC 3339, or a date YYYY-MM-DD meaning the last instant of
// that day in UTC) and ?seq= (only the events stored at or below that
// sequence). Asked again with the position it answered, a view answers
// the same bytes, whatever was appended since.

// position is the log position a request asks for.
type position struct {
	at  time.Time
	seq uint64 // 0: no bound
	// pinned: ?at= or ?seq= was given. Without, the view is "now" and may
	// be answered from the live read models.
	pinned bool
}

// parsePosition reads ?at= and ?seq=; a bad value is refused with
// bad-parameter.
func (s *Server) parsePosition(r *http.Request) (position, error) {
	at, err := s.parseAt(r)
	if err != nil {
		return position{}, err
	}
	q := r.URL.Query()
	p := position{at: at, pinned: q.Has("at") || q.Has("seq")}
	if v := q.Get("seq"); v != "" || q.Has("seq") {
		n, err := strconv.ParseUint(v, 10, 63)
		if err != nil || n == 0 {
			return position{}, badParam("seq", "%q is not a stream sequence (a whole number from 1, as a view's as_of.seq)", v)
		}
		p.seq = n
	}
	return p, nil
}

// asOf is the position a view answers with, for the last event it
// includes.
func (p position) asOf(seq uint64) *domain.LogPosition { return domain.Position(p.at, seq) }

// listSeq is the sequence a list stands at: the one asked, else what the
// projections have applied (every holding listed is included up to it).
func (s *Server) listSeq(p position) uint64 {
	if p.seq != 0 {
		return p.seq
	}
	return s.cfg.Runner.Applied()
}
