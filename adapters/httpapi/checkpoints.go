package httpapi

import (
	"net/http"
	"strconv"

	"github.com/licledger/licledger/domain"
)

// maxCheckpointsPage bounds GET /v1/audit/checkpoints?limit.
const maxCheckpointsPage = 1000

// listCheckpoints answers the kept signed checkpoints, newest first
// (GET /v1/audit/checkpoints?limit=N, default 20).
func (s *Server) listCheckpoints(w http.ResponseWriter, r *http.Request) error {
	limit := 20
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxCheckpointsPage {
			return badParam("limit", "%q is not a number from 1 to %d", v, maxCheckpointsPage)
		}
		limit = n
	}
	cps, err := s.cfg.Store.Checkpoints(r.Context(), limit)
	if err != nil {
		return err
	}
	if cps == nil {
		cps = []domain.Checkpoint{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"checkpoints": cps})
	return nil
}

// latestCheckpoint answers the newest checkpoint (404 no-checkpoint
// before the first).
func (s *Server) latestCheckpoint(w http.ResponseWriter, r *http.Request) error {
	cp, err := s.cfg.Store.LatestCheckpoint(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, cp)
	return nil
}

// writeCheckpoint seals and signs the log now (POST /v1/audit/checkpoints,
// admin) and answers the checkpoint, to keep outside the ledger. Not an
// event, so not a command of the Executor: it records nothing in the log
// and is not idempotent (each call signs the log as it is then).
func (s *Server) writeCheckpoint(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Checkpoints == nil {
		return domain.Errorf(domain.EINTERNAL, "this server has no ledger key to sign checkpoints with")
	}
	cp, err := s.cfg.Store.WriteCheckpoint(r.Context(), s.cfg.Checkpoints)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, cp)
	return nil
}
