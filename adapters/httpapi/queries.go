package httpapi

import (
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/projections"
)

// parseAt reads the optional ?at=RFC3339 instant; absent means now,
// rounded up to a whole second: licenses are issued and expire on human
// time scales, a second's resolution lets concurrent "now" queries share
// one evaluation, and rounding up (not down) keeps every event already
// appended (stamped at or before now) inside the answer.
func (s *Server) parseAt(r *http.Request) (time.Time, error) {
	v := r.URL.Query().Get("at")
	if v == "" {
		now := s.cfg.Now().UTC()
		at := now.Truncate(time.Second)
		if at.Before(now) {
			at = at.Add(time.Second)
		}
		return at, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, badParam("at", "%q is not an RFC 3339 instant (e.g. 2026-03-01T00:00:00Z)", v)
	}
	return t.UTC(), nil
}

func etag(version uint64) string { return `"` + strconv.FormatUint(version, 10) + `"` }

func (s *Server) getPlatform(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	p, err := s.cfg.Queries.DB().GetPlatform(r.Context(), id)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(p.Version))
	writeJSON(w, http.StatusOK, p)
	return nil
}

// getEntitlement serves the exact bytes of domain.MarshalEntitlement, the
// same the CLI's replay prints for the same history and instant.
func (s *Server) getEntitlement(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	at, err := s.parseAt(r)
	if err != nil {
		return err
	}
	signed, err := wantsSigned(r)
	if err != nil {
		return err
	}
	b, err := s.cfg.Queries.Entitlement(r.Context(), id, at)
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

func (s *Server) getLicenses(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	lics, err := s.cfg.Queries.DB().Licenses(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"platform": id, "licenses": lics})
	return nil
}

func (s *Server) getUSBKeys(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	at, err := s.parseAt(r)
	if err != nil {
		return err
	}
	keys, err := s.cfg.Queries.USBKeys(r.Context(), id, at)
	if err != nil {
		return err
	}
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
	entries, err := s.cfg.Queries.DB().Timeline(r.Context(), id, after, limit)
	if err != nil {
		return err
	}
	body := map[string]any{"platform": id, "entries": entries}
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
	if dir == "" {
		dir = filepath.Dir(s.cfg.Queries.DB().Path())
	}
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
