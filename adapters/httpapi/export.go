package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

// exportLog streams the log as CloudEvents JSON lines (GET /v1/export,
// auditors): each line the stored event with its stream sequence in
// "streamseq" (eventstore.Export), in constant memory. Filters: kind and
// aggregate (repeatable or comma-separated), from_seq and to_seq, since
// and until (RFC 3339, or a date: its end in UTC). An export cut short (a
// dropped connection) resumes with from_seq = the last streamseq + 1.
func (s *Server) exportLog(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var f eventstore.ExportFilter
	for _, v := range q["kind"] {
		f.Kinds = append(f.Kinds, strings.Split(v, ",")...)
	}
	for _, v := range q["aggregate"] {
		for _, a := range strings.Split(v, ",") {
			agg, err := domain.ParseAggregate(a)
			if err != nil {
				return badParam("aggregate", "%q is not kind/id", a)
			}
			f.Aggregates = append(f.Aggregates, agg)
		}
	}
	for name, into := range map[string]*uint64{"from_seq": &f.FromSeq, "to_seq": &f.ToSeq} {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return badParam(name, "%q is not a stream sequence", v)
			}
			*into = n
		}
	}
	for name, into := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if v := q.Get(name); v != "" {
			t, err := parseInstant(v)
			if err != nil {
				return badParam(name, "%q is not an RFC 3339 instant or a date", v)
			}
			*into = t
		}
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	sw := &lazyWriter{w: w}
	_, err := s.cfg.Store.Export(r.Context(), sw, f, nil)
	if err != nil && !sw.started {
		return err // nothing written yet: an error answer is still possible
	}
	if err != nil {
		s.log.Warn("export cut short", "err", err)
	}
	if !sw.started {
		w.WriteHeader(http.StatusOK)
	}
	return nil
}

// lazyWriter writes the status line with the first byte, so an error
// before any line is still answered as an error.
type lazyWriter struct {
	w       http.ResponseWriter
	started bool
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	if !l.started {
		l.started = true
		l.w.WriteHeader(http.StatusOK)
	}
	return l.w.Write(p)
}
