// Package httpapi is the ledger's admin HTTP API: queries over the
// projections, commands through the event store, bearer-token roles,
// Prometheus metrics and an OpenAPI description. It only translates: HTTP
// in, domain commands and projection queries out, domain errors back to
// statuses through one table (errors.go).
package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/projections"
)

// Defaults of Config.
const (
	DefaultMaxBodyBytes = 1 << 20
	// DefaultMaxUploadBytes is four times the largest bundle the license
	// file reader accepts (licensefile.DefaultLimits.MaxCompressed), so an
	// oversized bundle is read, refused by the reader and recorded as a
	// rejected upload with its digest (R11) rather than cut off unread.
	DefaultMaxUploadBytes  = 4 << 20
	DefaultConsistencyWait = 2 * time.Second
)

// Config wires a Server. Store, Queries and Runner are required.
type Config struct {
	Store *eventstore.Store
	// Commands is the command layer every command runs through; the
	// zero value builds eventstore.NewExecutors(Store) (with Now and
	// MaxRetries). A process with other writers (the USB key watcher)
	// passes the Executors it shares with them.
	Commands Commands
	Queries  *projections.Queries
	Runner   *projections.Runner
	// Verifier turns uploaded bodies into license uploads. nil accepts the
	// license JSON objects of the event contract (JSONLicenses); the
	// signed license-file adapter plugs in here.
	Verifier LicenseVerifier
	// Tokens are the accepted bearer tokens. With none, every request is
	// treated as the local admin: the caller (serve) must then listen on
	// loopback only, and says so loudly.
	Tokens *Tokens
	Logger *slog.Logger
	// Now is the clock commands decide with; default time.Now.
	Now func() time.Time
	// MaxBodyBytes bounds a request body; larger ones get 413.
	MaxBodyBytes int64
	// MaxUploadBytes bounds a license upload's body (default
	// DefaultMaxUploadBytes); larger ones get 413 and, unread, are not
	// recorded.
	MaxUploadBytes int64
	// ConsistencyWait is how long a command waits for the projections to
	// include its events before answering, so a client reads its own
	// writes; default 2s, negative: do not wait. The command is durable
	// either way; the wait only affects what the next query sees.
	ConsistencyWait time.Duration
	// MaxRetries bounds the internal retries of a command that lost an
	// optimistic-concurrency race, when Commands is built here
	// (eventstore.ExecutorConfig.MaxRetries).
	MaxRetries int
	// ScratchDir is where GET /v1/projections/verify and views at a past
	// position build their scratch databases; default the projections
	// database's directory. New removes what a crashed run left there.
	ScratchDir string
	// RateLimits bounds the instance endpoints per license and source
	// address, and slows down repeated failed secrets (ratelimit.go).
	RateLimits RateLimits
	// LicenseServer configures the license-server endpoints
	// (licserver.go); the zero value works.
	LicenseServer LicenseServerConfig
	// Signing is the key answers and documents are signed with, and the
	// keys GET /v1/ledger/keys publishes (signing.go); the zero value
	// signs with a key of this process only.
	Signing SigningConfig
	// MaxConnections caps the connections the server holds at once
	// (Listener); default DefaultMaxConnections.
	MaxConnections int
	// Ready adds sections to /readyz's JSON by name (e.g. the USB key
	// watcher's state): optional edges report how they are, but never make
	// the ledger unready, since it keeps recording and answering without
	// them. Each func is called per request, from any goroutine.
	Ready map[string]func() any
	// Checkpoints signs the checkpoints of POST /v1/audit/checkpoints:
	// the ledger's key. nil: that route answers 500 (no key wired).
	Checkpoints eventstore.Signer
	// Console, if set, is the browser console's handler (adapters/console),
	// served at / and /console/ (whoami.go, mountConsole).
	Console http.Handler
}

// Server is the HTTP API. Build it with New; it is safe for concurrent use.
type Server struct {
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	metrics *metrics
	routes  []route
	cmds    Commands
	limits  *limiter
	signing SigningConfig
}

// route is one endpoint: its pattern (Go 1.22 ServeMux syntax, with the
// method), the roles allowed (nil: public), and the handler, which returns
// an error for the status table instead of writing it.
type route struct {
	pattern string
	roles   []string
	handle  func(w http.ResponseWriter, r *http.Request) error
}

// New builds the server and its routes.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Queries == nil || cfg.Runner == nil {
		return nil, domain.Errorf(domain.EINVALID, "httpapi: Store, Queries and Runner are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxUploadBytes <= 0 {
		cfg.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	if cfg.ScratchDir == "" {
		cfg.ScratchDir = filepath.Dir(cfg.Queries.DB().Path())
	}
	if err := projections.RemoveScratch(cfg.ScratchDir); err != nil {
		cfg.Logger.Warn("could not remove scratch files a previous run left", "dir", cfg.ScratchDir, "err", err)
	}
	if cfg.ConsistencyWait == 0 {
		cfg.ConsistencyWait = DefaultConsistencyWait
	}
	if cfg.Verifier == nil {
		cfg.Verifier = JSONLicenses{}
	}
	if cfg.Commands.Platforms == nil {
		cfg.Commands = CommandsOf(eventstore.NewExecutors(cfg.Store, eventstore.ExecutorConfig{MaxRetries: cfg.MaxRetries, Now: cfg.Now}))
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "httpapi"), mux: http.NewServeMux(), cmds: cfg.Commands,
		limits: newLimiter(cfg.RateLimits, cfg.Now), signing: newSigning(cfg.Signing)}
	s.metrics = newMetrics(func(ctx context.Context) (float64, error) {
		st, err := cfg.Runner.Status(ctx)
		return float64(st.Lag), err
	})
	s.metrics.reg.MustRegister(newOpsCollector(s))
	// Count appends at the store, so events the USB key watcher (or any
	// other in-process writer) appends are counted with the API's.
	cfg.Store.OnAppend(func(recs []eventstore.Record) {
		for _, r := range recs {
			s.metrics.eventsAppended.WithLabelValues(r.Event.Type).Inc()
		}
	})
	s.routes = s.routeTable()
	for _, rt := range s.routes {
		s.mux.Handle(rt.pattern, s.wrap(rt))
	}
	if cfg.Console != nil {
		s.mountConsole(cfg.Console)
	}
	s.mux.Handle("/", s.wrap(route{pattern: "unmatched", handle: s.noRoute}))
	return s, nil
}

// Handler is the server's root handler.
func (s *Server) Handler() http.Handler { return s.mux }

// Timeouts of HTTPServer. A request body must arrive within
// ReadTimeout (a 4 MiB upload needs under 4 KiB/s), an answer be written
// within WriteTimeout (GET /v1/projections/verify rebuilds a scratch copy
// and is the slowest), and a kept-alive connection that sends nothing is
// closed after IdleTimeout: slow or idle clients cannot hold connections
// open for ever.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = time.Minute
	WriteTimeout      = 5 * time.Minute
	IdleTimeout       = 2 * time.Minute
	MaxHeaderBytes    = 64 << 10
)

// HTTPServer returns the http.Server to serve the API with: the handler,
// the timeouts above, and the server's own errors logged at warn.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{Handler: s.mux, ReadHeaderTimeout: ReadHeaderTimeout, ReadTimeout: ReadTimeout,
		WriteTimeout: WriteTimeout, IdleTimeout: IdleTimeout, MaxHeaderBytes: MaxHeaderBytes,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
}

// Patterns lists the registered route patterns ("GET /v1/..."), for the
// OpenAPI test and documentation.
func (s *Server) Patterns() []string {
	out := make([]string, len(s.routes))
	for i, rt := range s.routes {
		out[i] = rt.pattern
	}
	return out
}

var (
	everyone = []string{RoleAdmin, RoleAuditor, RoleBilling, RoleClient}
	readers  = []string{RoleAdmin, RoleAuditor, RoleBilling}
	auditors = []string{RoleAdmin, RoleAuditor}
	admins   = []string{RoleAdmin}
)

// routeTable is every endpoint with the roles allowed. openapi.json
// describes exactly these (TestOpenAPIDescribesEveryRoute).
func (s *Server) routeTable() []route {
	return append([]route{
		{"GET /healthz", nil, s.healthz},
		{"GET /readyz", nil, s.readyz},
		{"GET /metrics", nil, s.metricsHandler},
		{"GET /openapi.json", nil, s.openapi},
		{"GET /v1/ledger/keys", nil, s.ledgerKeys},

		{"GET /v1/whoami", everyone, s.whoami},
		{"GET /v1/platforms", readers, serveList(s, domain.KindPlatform, s.platformItem)},
		{"GET /v1/customers", readers, s.listCustomers},
		{"GET /v1/customers/{id}", readers, s.getCustomer},
		{"GET /v1/platforms/{id}", readers, s.getPlatform},
		{"GET /v1/platforms/{id}/entitlement", everyone, s.getEntitlement},
		{"GET /v1/platforms/{id}/entitlement/explain", readers, s.explainEntitlement},
		{"POST /v1/platforms/{id}/entitlement/simulate", auditors, s.simulatePlatform},
		{"GET /v1/platforms/{id}/licenses", readers, s.getLicenses},
		{"GET /v1/platforms/{id}/usb-keys", auditors, s.getUSBKeys},
		{"GET /v1/platforms/{id}/timeline", auditors, s.getTimeline},
		{"GET /v1/events/{id}", readers, s.getEvent},
		{"GET /v1/projections/verify", auditors, s.verifyProjections},
		{"GET /v1/audit/verify", auditors, s.verifyLog},
		{"GET /v1/export", auditors, s.exportLog},
		{"GET /v1/audit/checkpoints", auditors, s.listCheckpoints},
		{"GET /v1/audit/checkpoints/latest", auditors, s.latestCheckpoint},
		{"POST /v1/audit/checkpoints", admins, s.writeCheckpoint},

		{"POST /v1/platforms", admins, s.registerPlatform},
		{"POST /v1/platforms/{id}/nodes", admins, s.addNode},
		{"DELETE /v1/platforms/{id}/nodes/{node}", admins, s.removeNode},
		{"POST /v1/platforms/{id}/licenses", admins, s.uploadLicense},
		{"DELETE /v1/platforms/{id}/licenses/{license}", admins, s.deleteLicense},
		{"POST /v1/platforms/{id}/nodes/{node}/usb-keys", admins, s.insertUSBKey},
		{"DELETE /v1/platforms/{id}/nodes/{node}/usb-keys/{key}", admins, s.removeUSBKey},
		{"POST /v1/platforms/{id}/hosts", admins, s.addHost},
		{"DELETE /v1/platforms/{id}/hosts/{host}", admins, s.removeHost},
	}, s.licenseServerRoutes()...)
}

// AppliedSeqHeader is on every answer of a GET /v1/ query: the log
// sequence the projections had applied when the query ran, so a client
// knows how recent an answer is, also while the event store is down and
// the projections keep answering.
const AppliedSeqHeader = "X-Licledger-Applied-Seq"

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
	reason string // of an error answer
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// wrap is the middleware of every route: panic recovery, authentication
// and role check, the error table, metrics by route pattern, and a log
// line per request (with the caller's actor, never a token).
func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		var caller Caller
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("panic in handler", "route", rt.pattern, "panic", p, "stack", string(debug.Stack()))
				if sw.status == 0 {
					writeError(sw, r, s.log, domain.Errorf(domain.EINTERNAL, "panic: %v", p))
				}
			}
			d := time.Since(start)
			s.metrics.observe(rt.pattern, sw.status, sw.reason, d)
			if slices.Contains(rt.roles, RoleLicenseKey) {
				s.noteSecretOutcome(r, sw.status, sw.reason)
			}
			// One line per request, at info, with who asked: never a
			// token, key or secret (they travel in headers and bodies,
			// which are not logged; the path holds ids only). Refusals
			// that matter for security say so in the message.
			msg := "request"
			if securityRefusal(sw.status, sw.reason) {
				msg = "request refused"
			}
			s.log.Info(msg, "method", r.Method, "path", r.URL.Path, "route", rt.pattern, "status", sw.status, "reason", sw.reason,
				"duration", d, "role", caller.Role, "actor", caller.Actor, "customer", caller.Customer, "remote", sourceAddress(r))
		}()
		err := func() error {
			if rt.roles != nil {
				c, err := s.authenticate(r, rt)
				if err != nil {
					return err
				}
				caller = c
				if err := authorize(c, rt); err != nil {
					return err
				}
				if err := s.checkScope(r, rt, c); err != nil {
					return err
				}
				r = r.WithContext(withCaller(r.Context(), c))
			}
			if r.Method == http.MethodGet && strings.HasPrefix(rt.pattern, "GET /v1/") {
				// Read before the query: the answer holds at least every
				// event up to it, whether or not the event store is up.
				sw.Header().Set(AppliedSeqHeader, strconv.FormatUint(s.cfg.Runner.Applied(), 10))
			}
			return rt.handle(sw, r)
		}()
		if err != nil {
			if sw.status != 0 {
				// Too late for an error response: log it.
				s.log.Error("handler failed after writing", "route", rt.pattern, "err", err)
				return
			}
			writeError(sw, r, s.log, err)
		}
	})
}

// noRoute answers what no route matches: 405 with Allow when the path
// exists under other methods, 404 otherwise, in the one error shape.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) error {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "" && pattern != "/" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		return domain.Reasonf(domain.EMETHOD, domain.ReasonMethodNotAllowed, "%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, strings.Join(allowed, ", "))
	}
	return domain.Reasonf(domain.ENOTFOUND, domain.ReasonNoRoute, "no endpoint %s %s; see /openapi.json", r.Method, r.URL.Path)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// readyz is ready when a command can be written now (the event store is
// reachable, has a stream leader and room: eventstore.Store.Health) and
// every projection has applied the log up to its head, so queries answer
// with everything acknowledged so far. Otherwise it is 503, saying which:
// "writes-unavailable" (with the reason a command would get; queries
// still answer from the projections, at their applied sequence),
// "catching-up", or "unavailable" (the log's head cannot be read while
// writes could go through: unlikely, but said).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	// Each check its own 2s: a store that does not answer must not
	// leave the projections' status without time to say where they are.
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	store := map[string]any{"writable": true}
	storeErr := s.cfg.Store.Health(ctx)
	if storeErr != nil {
		store = map[string]any{"writable": false, "reason": domain.ErrorReason(storeErr), "message": domain.ErrorMessage(storeErr)}
	}
	ctx, cancel = context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	st, err := s.cfg.Runner.Status(ctx)
	var projStatus any = st
	if err != nil {
		projStatus = map[string]any{"applied": s.cfg.Runner.Applied(), "error": domain.ErrorMessage(err)}
	}
	status, code := "ready", http.StatusOK
	switch {
	case storeErr != nil:
		status, code = "writes-unavailable", http.StatusServiceUnavailable
	case err != nil:
		status, code = "unavailable", http.StatusServiceUnavailable
	case !st.CaughtUp:
		status, code = "catching-up", http.StatusServiceUnavailable
	}
	body := map[string]any{"status": status, "projections": projStatus, "event_store": store}
	for name, section := range s.cfg.Ready {
		if _, taken := body[name]; !taken {
			body[name] = section()
		}
	}
	writeJSON(w, code, body)
	return nil
}

func (s *Server) metricsHandler(w http.ResponseWriter, r *http.Request) error {
	s.metrics.handler().ServeHTTP(w, r)
	return nil
}

// pathID returns a path parameter checked as a ledger id.
func pathID(r *http.Request, name string) (string, error) {
	v := r.PathValue(name)
	if err := domain.ValidateID(v); err != nil {
		return "", domain.Reasonf(domain.EINVALID, domain.ReasonInvalidID, "%s in the path: %s", name, domain.ErrorMessage(err))
	}
	return v, nil
}

func badParam(name, format string, args ...any) error {
	return domain.Reasonf(domain.EINVALID, domain.ReasonBadParameter, "query parameter %s: %s", name, fmt.Sprintf(format, args...))
}

// securityRefusal reports whether an answer is a refusal an operator
// watches for: no or bad credentials, a forbidden route or resource, a
// rate limit, a bad instance secret or license key.
func securityRefusal(status int, reason string) bool {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests:
		return true
	}
	return reason == domain.ReasonInstanceBadSecret || reason == domain.ReasonWrongLicenseKey
}
