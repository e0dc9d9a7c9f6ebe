package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/projections"
)

// parseAt reads the optional ?at= instant (RFC 3339 with any fraction,
// or a date meaning the last instant of that day in UTC); absent means
// now, rounded up to a whole second: licenses are issued and expire on
// human time scales, a second's resolution lets concurrent "now" queries
// share one evaluation, and rounding up (not down) keeps every event
// already appended (stamped at or before now) inside the answer.
func (s *Server) parseAt(r *http.Request) (time.Time, error) {
	q := r.URL.Query()
	v := q.Get("at")
	if v == "" && !q.Has("at") {
		now := s.cfg.Now().UTC()
		at := now.Truncate(time.Second)
		if at.Before(now) {
			at = at.Add(time.Second)
		}
		return at, nil
	}
	t, err := parseInstant(v)
	if err != nil {
		return time.Time{}, badParam("at", "%q is not an RFC 3339 instant (e.g. 2026-03-01T00:00:00Z) or a date (2026-03-01: its end in UTC)", v)
	}
	return t, nil
}

func etag(version uint64) string { return `"` + strconv.FormatUint(version, 10) + `"` }

func (s *Server) getPlatform(w http.ResponseWriter, r *http.Request) error {
	id, pos, snap, err := s.snapshotOf(r)
	if err != nil {
		return err
	}
	defer snap.Close()
	p, err := snap.Queries.DB().GetPlatform(r.Context(), id)
	if err != nil {
		return err
	}
	p.AsOf = pos.asOf(p.LastSeq)
	w.Header().Set("ETag", etag(p.Version))
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, p)
	return nil
}

// snapshotOf is the read side of the path's platform at the position
// asked: the live read models for "now", a scratch build of its history's
// prefix for a position before its last event
// (projections.PlatformSnapshot). Close it.
func (s *Server) snapshotOf(r *http.Request) (string, position, projections.Snapshot, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return "", position{}, projections.Snapshot{}, err
	}
	pos, err := s.parsePosition(r)
	if err != nil {
		return "", position{}, projections.Snapshot{}, err
	}
	dir := s.cfg.ScratchDir
	snap, err := s.cfg.Queries.PlatformSnapshot(r.Context(), id, pos.at, pos.seq, !pos.pinned, dir)
	return id, pos, snap, err
}

// getEntitlement serves the exact bytes of domain.MarshalEntitlement, the
// same the CLI's replay prints for the same history and instant.
func (s *Server) getEntitlement(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	pos, err := s.parsePosition(r)
	if err != nil {
		return err
	}
	signed, err := wantsSigned(r)
	if err != nil {
		return err
	}
	b, err := s.cfg.Queries.EntitlementAt(r.Context(), id, pos.at, pos.seq)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	if signed {
		// R27 Decision (trust): what the platform was told, provably.
		s.writeSigned(w, domain.EntitlementSigningPrefix, b)
		return nil
	}
	writeBytes(w, http.StatusOK, "application/json", b)
	return nil
}

// explainEntitlement says why one item of the entitlement (?module=, a
// module, base, capacity or buffer; omitted: the Base) is what it is at
// the position asked, with the rules and the events that decided it
// (domain.ExplainPlatform).
func (s *Server) explainEntitlement(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	pos, err := s.parsePosition(r)
	if err != nil {
		return err
	}
	st, last, err := s.cfg.Queries.PlatformAt(r.Context(), id, pos.at, pos.seq)
	if err != nil {
		return err
	}
	x, err := domain.ExplainPlatform(st, pos.at, r.URL.Query().Get("module"))
	if err != nil {
		return badParam("module", "%s", domain.ErrorMessage(err))
	}
	x.AsOf = pos.asOf(last)
	seqs, err := s.cfg.Queries.DB().EventSeqs(r.Context(), eventIDs(x.DecidedBy))
	if err != nil {
		return err
	}
	x.SetSeqs(seqs)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, x)
	return nil
}

func eventIDs(refs []domain.EventRef) []string {
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = r.ID
	}
	return out
}

func (s *Server) getLicenses(w http.ResponseWriter, r *http.Request) error {
	id, pos, snap, err := s.snapshotOf(r)
	if err != nil {
		return err
	}
	defer snap.Close()
	lics, seq, err := snap.Queries.DB().LicensesSeq(r.Context(), id)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"platform": id, "as_of": pos.asOf(seq), "licenses": lics})
	return nil
}

func (s *Server) getUSBKeys(w http.ResponseWriter, r *http.Request) error {
	id, pos, snap, err := s.snapshotOf(r)
	if err != nil {
		return err
	}
	defer snap.Close()
	keys, err := snap.Queries.USBKeys(r.Context(), id, pos.at)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, keys)
	return nil
}

// DefaultTimelinePage is the timeline page size without ?limit.
const DefaultTimelinePage = 100

func (s *Server) getTimeline(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var after uint64
	if v := q.Get("after"); v != "" {
		if after, err = strconv.ParseUint(v, 10, 64); err != nil {
			return badParam("after", "%q is not a version number", v)
		}
	}
	limit := DefaultTimelinePage
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > projections.MaxTimelinePage {
			return badParam("limit", "%q is not a number from 1 to %d", v, projections.MaxTimelinePage)
		}
		limit = n
	}
	pos, err := s.parsePosition(r)
	if err != nil {
		return err
	}
	entries, asOf, err := s.cfg.Queries.DB().TimelineAt(r.Context(), id, after, limit, pos.at, pos.seq)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	body := map[string]any{"platform": id, "as_of": asOf, "entries": entries}
	if len(entries) == limit {
		body["next_after"] = entries[len(entries)-1].Version
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// getEvent serves a stored event exactly as appended (CloudEvents JSON).
func (s *Server) getEvent(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ev, err := s.cfg.Queries.DB().Event(r.Context(), id)
	if err != nil {
		return err
	}
	w.Header().Set("X-Licledger-Seq", strconv.FormatUint(ev.Seq, 10))
	writeBytes(w, http.StatusOK, "application/cloudevents+json", ev.Raw)
	return nil
}

// verifyProjections rebuilds the projections from the log into a scratch
// database and compares every table with the live one (R32). It costs a
// full rebuild: an auditor's tool, not a probe.
func (s *Server) verifyProjections(w http.ResponseWriter, r *http.Request) error {
	dir := s.cfg.ScratchDir
	rep, err := projections.Verify(r.Context(), s.cfg.Queries.DB(), s.cfg.Store, dir, s.log, nil)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

// verifyLog checks the hash chain and sequence continuity of the whole log
// (R31, R33).
func (s *Server) verifyLog(w http.ResponseWriter, r *http.Request) error {
	rep, err := s.cfg.Store.Verify(r.Context(), nil)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": rep.OK(), "report": rep})
	return nil
}
