package httpapi

import (
	"net/http"
	"time"
)

// Whoami is the answer of GET /v1/whoami: who the token is, so a
// browser console can show a read-only view to an auditor and only its
// customer to a scoped token. It says nothing the caller does not already
// hold (never the token); the API's checks stay the only enforcement.
type Whoami struct {
	Role     string `json:"role"`
	Actor    string `json:"actor"`
	Customer string `json:"customer,omitempty"`
	// Local is true when serve runs without tokens (loopback only) and
	// every request is the local admin.
	Local bool `json:"local"`
	// At is the ledger's clock: the console counts days left from it,
	// not from the browser's.
	At time.Time `json:"at"`
}

func (s *Server) whoami(w http.ResponseWriter, r *http.Request) error {
	c, _ := CallerOf(r.Context())
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, Whoami{Role: c.Role, Actor: c.Actor, Customer: c.Customer, Local: s.cfg.Tokens.Len() == 0, At: s.cfg.Now().UTC()})
	return nil
}

// mountConsole serves the browser console (Config.Console) at / and its
// assets under /console/. They are not API routes (not in the route
// table or openapi.json): static files, public like /openapi.json, that
// hold no data; every datum the console shows comes through the API with
// the caller's token and the same checks.
func (s *Server) mountConsole(h http.Handler) {
	serve := func(w http.ResponseWriter, r *http.Request) error {
		h.ServeHTTP(w, r)
		return nil
	}
	s.mux.Handle("GET /{$}", s.wrap(route{pattern: "GET /", handle: serve}))
	s.mux.Handle("GET /console/", s.wrap(route{pattern: "GET /console/", handle: serve}))
}
