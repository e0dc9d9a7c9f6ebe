package eventstore

// Who may do what on the ledger's NATS server.
//
// The embedded server always requires authentication, also with no TCP
// port (one code path, tested everywhere). It knows these users, all in
// the one global account that holds the stream:
//
//   - the ledger itself: an nkey (Ed25519) user whose key pair is drawn
//     from crypto/rand at every Open and never leaves the process: not
//     logged, not stored, not configurable, so it has no default anyone
//     could know, and the server only ever sees its public key. The user
//     may only connect in-process (connection type IN_PROCESS): a TCP
//     client presenting it is refused even with a valid signature. Within
//     the process it may do everything (it creates the stream; tests that
//     simulate tampering delete through it).
//   - the readers of Config.Users, roles RoleAuditor and RoleBilling: over
//     TCP only, with ReaderPermissions: stream info, message and direct
//     gets, and consumers of their own (durable or ordered) with their
//     acks; nothing that writes, deletes or purges.
//   - with no Config.Users, only on a loopback Listen address: clients
//     presenting no credentials are bound to an anonymous reader (an nkey
//     user nobody holds the seed of) with the same ReaderPermissions. A
//     non-loopback Listen without users is refused (EINVALID), like
//     `serve --http` without tokens.
//
// An external server (Config.URL) is the operator's: the store connects
// with Config.Credentials, and deploy/nats-server.conf shows the
// permissions to give the ledger (WriterPermissions) and its readers
// (ReaderPermissions).

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/licledger/licledger/domain"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

const (
	// LedgerUser is the name the ledger's user goes by on an external
	// server (deploy/nats-server.conf). Reserved: no reader of the
	// embedded server may take it.
	LedgerUser = "licledger"

	// RoleAuditor and RoleBilling are the roles of Config.Users. Both only
	// read the ledger (ReaderPermissions); the role names who the user is
	// for in the users file and the logs.
	RoleAuditor = "auditor"
	RoleBilling = "billing"

	// MinNATSPasswordLength is the shortest plain-text password a users
	// file may hold; a bcrypt hash is accepted as it is.
	MinNATSPasswordLength = 16
)

// Connection types of server.User.AllowedConnectionTypes (jwt's
// ConnectionTypeInProcess and ConnectionTypeStandard).
const (
	connTypeInProcess = "IN_PROCESS"
	connTypeStandard  = "STANDARD"
)

var natsRoles = []string{RoleAuditor, RoleBilling}

// NATSUser is a reader of the embedded server (Config.Users). Its String
// and LogValue never show the password.
type NATSUser struct {
	Role string // RoleAuditor or RoleBilling
	Name string // letters, digits, '-', '_', '.', '@'; unique
	// Password is the plain-text password (at least
	// MinNATSPasswordLength characters) or its bcrypt hash
	// (`nats server passwd`, "$2a$..."), which the server compares against.
	Password string
}

func (u NATSUser) String() string { return u.Role + ":" + u.Name }

// LogValue keeps the password out of structured logs.
func (u NATSUser) LogValue() slog.Value { return slog.StringValue(u.String()) }

var (
	natsUserName = regexp.MustCompile(`^[A-Za-z0-9_.@-]{1,64}$`)
	// A bcrypt hash as `nats server passwd` (or any bcrypt library) writes it.
	bcryptHash = regexp.MustCompile(`^\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}$`)
)

// validateUsers checks Config.Users; errors never quote a password.
func validateUsers(users []NATSUser) error {
	seen := make(map[string]bool, len(users))
	for i, u := range users {
		if !slices.Contains(natsRoles, u.Role) {
			return domain.Errorf(domain.EINVALID, "NATS user %d: unknown role %q (roles: %s)", i+1, u.Role, strings.Join(natsRoles, ", "))
		}
		if !natsUserName.MatchString(u.Name) {
			return domain.Errorf(domain.EINVALID, "NATS user %d (%s): name %q must be 1 to 64 letters, digits, '-', '_', '.' or '@'", i+1, u.Role, u.Name)
		}
		if u.Name == LedgerUser {
			return domain.Errorf(domain.EINVALID, "NATS user %d (%s): the name %q is reserved for the ledger", i+1, u.Role, u.Name)
		}
		if seen[u.Name] {
			return domain.Errorf(domain.EINVALID, "NATS user %d (%s): the name %q appears twice", i+1, u.Role, u.Name)
		}
		seen[u.Name] = true
		if !bcryptHash.MatchString(u.Password) && len(u.Password) < MinNATSPasswordLength {
			return domain.Errorf(domain.EINVALID, "NATS user %s: the password is shorter than %d characters (or give a bcrypt hash)", u, MinNATSPasswordLength)
		}
	}
	return nil
}

// ParseNATSUsers reads the embedded server's readers, one per line:
//
//	# role     name        password (or its bcrypt hash)
//	auditor    audit-team  a-long-random-password
//	billing    erp         $2a$11$...
//
// Blank lines and lines starting with '#' are skipped; a password may hold
// any character but white space ('#' included). Errors are EINVALID and
// never quote a password.
func ParseNATSUsers(data []byte) ([]NATSUser, error) {
	var users []NATSUser
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		f := strings.Fields(text)
		if len(f) != 3 {
			return nil, domain.Errorf(domain.EINVALID, "NATS users line %d: want \"role name password\", found %d fields", line, len(f))
		}
		users = append(users, NATSUser{Role: f[0], Name: f[1], Password: f[2]})
	}
	if err := sc.Err(); err != nil {
		return nil, domain.Errorf(domain.EINVALID, "NATS users: %v", err)
	}
	if len(users) == 0 {
		return nil, domain.Errorf(domain.EINVALID, "no NATS users given")
	}
	if err := validateUsers(users); err != nil {
		return nil, err
	}
	return users, nil
}

// LoadNATSUsers reads a users file (see ParseNATSUsers).
func LoadNATSUsers(path string) ([]NATSUser, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, domain.Errorf(domain.EINVALID, "read NATS users file: %v", err)
	}
	users, err := ParseNATSUsers(b)
	if err != nil {
		return nil, domain.Errorf(domain.EINVALID, "NATS users file %s: %s", path, domain.ErrorMessage(err))
	}
	return users, nil
}

// Credentials are what the store presents to an external server
// (Config.URL): a user and password, a .creds file (JWT and nkey seed),
// or an nkey seed file; at most one kind. String and LogValue never show
// the password.
type Credentials struct {
	User, Password string
	CredsFile      string
	NKeyFile       string
}

// IsZero reports whether no credentials are set.
func (c Credentials) IsZero() bool { return c == Credentials{} }

func (c Credentials) String() string {
	switch {
	case c.CredsFile != "":
		return "creds file " + c.CredsFile
	case c.NKeyFile != "":
		return "nkey seed file " + c.NKeyFile
	case c.User != "":
		return "user " + c.User
	}
	return "no credentials"
}

// LogValue keeps the password out of structured logs.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

func (c Credentials) validate() error {
	kinds := 0
	for _, set := range []bool{c.User != "" || c.Password != "", c.CredsFile != "", c.NKeyFile != ""} {
		if set {
			kinds++
		}
	}
	switch {
	case kinds > 1:
		return domain.Errorf(domain.EINVALID, "NATS credentials: give a user and password, a creds file or an nkey seed file, not several")
	case c.Password != "" && c.User == "":
		return domain.Errorf(domain.EINVALID, "NATS credentials: a password needs a user")
	case c.User != "" && c.Password == "":
		return domain.Errorf(domain.EINVALID, "NATS credentials: user %s has no password", c.User)
	}
	return nil
}

// options turns the credentials into nats.go options.
func (c Credentials) options() ([]nats.Option, error) {
	switch {
	case c.CredsFile != "":
		if _, err := os.Stat(c.CredsFile); err != nil {
			return nil, domain.Errorf(domain.EINVALID, "NATS creds file: %v", err)
		}
		return []nats.Option{nats.UserCredentials(c.CredsFile)}, nil
	case c.NKeyFile != "":
		o, err := nats.NkeyOptionFromSeed(c.NKeyFile)
		if err != nil {
			return nil, domain.Errorf(domain.EINVALID, "NATS nkey seed file %s: %v", c.NKeyFile, err)
		}
		return []nats.Option{o}, nil
	case c.User != "":
		return []nats.Option{nats.UserInfo(c.User, c.Password)}, nil
	}
	return nil, nil
}

// checkAccess validates the access settings of cfg (after setDefaults):
// which settings go with which server, and the loopback guard.
func checkAccess(cfg *Config) error {
	if err := validateUsers(cfg.Users); err != nil {
		return err
	}
	if err := cfg.Credentials.validate(); err != nil {
		return err
	}
	if cfg.URL != "" {
		if len(cfg.Users) > 0 {
			return domain.Errorf(domain.EINVALID, "NATS users configure the embedded server; with an external NATS (a URL) give them to your own server (see deploy/nats-server.conf)")
		}
		if !cfg.Credentials.IsZero() && urlHasUserinfo(cfg.URL) {
			return domain.Errorf(domain.EINVALID, "NATS credentials given both in the URL and separately; give them once")
		}
		return nil
	}
	if !cfg.Credentials.IsZero() {
		return domain.Errorf(domain.EINVALID, "NATS credentials (%s) are for an external NATS (a URL); the embedded server needs none", cfg.Credentials)
	}
	if len(cfg.Users) > 0 && cfg.Listen == "" {
		return domain.Errorf(domain.EINVALID, "NATS users need a listen address (serve --nats-listen) for them to connect to")
	}
	if cfg.Listen != "" && len(cfg.Users) == 0 {
		if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
			return domain.Errorf(domain.EINVALID, "listen address %q: %v", cfg.Listen, err)
		}
		if !IsLoopback(cfg.Listen) {
			return domain.Errorf(domain.EINVALID, "refusing to accept NATS clients on %s without NATS users: configure --nats-users FILE or LICLEDGER_NATS_USERS, or listen on loopback (127.0.0.1)", cfg.Listen)
		}
	}
	return nil
}

// IsLoopback reports whether a listen address only accepts local
// connections. An empty host (":4222") listens on every interface.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serverAuth sets the embedded server's side of authentication on opts:
// the ledger's nkey (ledgerKey, its public key), the readers of
// cfg.Users and, without them, the anonymous reader that clients without
// credentials become.
func serverAuth(opts *server.Options, cfg *Config, ledgerKey string) error {
	opts.Nkeys = []*server.NkeyUser{{Nkey: ledgerKey, AllowedConnectionTypes: map[string]struct{}{connTypeInProcess: {}}}}
	opts.Users, opts.NoAuthUser = nil, ""
	tcpOnly := func() map[string]struct{} { return map[string]struct{}{connTypeStandard: {}} }
	for _, u := range cfg.Users {
		opts.Users = append(opts.Users, &server.User{Username: u.Name, Password: u.Password,
			Permissions: ReaderPermissions(cfg.Stream), AllowedConnectionTypes: tcpOnly()})
	}
	if len(cfg.Users) == 0 && cfg.Listen != "" {
		// Only ever on loopback (checkAccess). Nobody has the seed: the
		// user is only reachable by presenting no credentials at all.
		kp, err := nkeys.CreateUser()
		if err != nil {
			return domain.Errorf(domain.EINTERNAL, "create the anonymous reader's key: %v", err)
		}
		defer kp.Wipe()
		anonymous, err := kp.PublicKey()
		if err != nil {
			return domain.Errorf(domain.EINTERNAL, "create the anonymous reader's key: %v", err)
		}
		opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: anonymous,
			Permissions: ReaderPermissions(cfg.Stream), AllowedConnectionTypes: tcpOnly()})
		opts.NoAuthUser = anonymous
	}
	return nil
}

// ledgerIdentity draws the ledger's key pair for one Open and returns its
// public key and the nats.go option that signs in with it.
func ledgerIdentity() (string, nats.Option, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return "", nil, domain.Errorf(domain.EINTERNAL, "create the ledger's NATS key: %v", err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return "", nil, domain.Errorf(domain.EINTERNAL, "create the ledger's NATS key: %v", err)
	}
	return pub, nats.Nkey(pub, kp.Sign), nil
}

// ReaderPermissions are what an auditor or billing system may do on the
// ledger stream: look at it (stream info, get a message by sequence or
// the last one of a subject, directly or through the API), and create,
// read, acknowledge and delete consumers on it (durable or ordered), with
// replies to its inbox. Nothing else: no publish to ledger.>, no stream
// create, update, delete or purge, no message delete, no snapshot.
//
// What a reader can still do to another: consumers share one namespace,
// so a reader can delete or reconfigure another reader's consumer (the
// events are untouched; a deleted durable consumer starts over from the
// first event, which at-least-once consumers de-duplicate by event id),
// and replies travel on _INBOX.>, so a reader can watch other clients'
// replies, which carry nothing a reader cannot read anyway.
func ReaderPermissions(stream string) *server.Permissions {
	return &server.Permissions{
		Publish: &server.SubjectPermission{
			Allow: readerPublish(stream),
			// Implied by the allow list; spelled out as the one rule
			// that must never break.
			Deny: []string{SubjectPrefix + ".>"},
		},
		Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
	}
}

// WriterPermissions are what the ledger's own user needs on an external
// server: ReaderPermissions plus publishing events (ledger.>, atomic
// batches included) and creating and updating the stream. It does not
// need, and should not get, stream delete or purge, message delete,
// snapshot or restore: those are for the server's operator. It also
// keeps the projection snapshots (snapshots.go) in their own bucket,
// where purging a replaced snapshot's chunks is allowed: that bucket
// holds derived data only; and the signed checkpoints in theirs.
func WriterPermissions(stream string) *server.Permissions {
	allow := append([]string{
		SubjectPrefix + ".>",
		"$JS.API.STREAM.CREATE." + stream,
		"$JS.API.STREAM.UPDATE." + stream,
	}, readerPublish(stream)...)
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: append(append(allow, snapshotPublish(stream)...), checkpointPublish(stream)...)},
		Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
	}
}

// snapshotPublish is what storing and fetching projection snapshots
// needs on the bucket's stream (OBJ_<bucket>): create and look it up,
// publish chunks and metadata, purge a replaced snapshot's chunks, read
// metadata directly and chunks through an ordered push consumer.
func snapshotPublish(stream string) []string {
	b := SnapshotBucket(stream)
	obj := "OBJ_" + b
	return []string{
		"$O." + b + ".>",
		"$JS.API.STREAM.CREATE." + obj,
		"$JS.API.STREAM.INFO." + obj,
		"$JS.API.STREAM.PURGE." + obj,
		"$JS.API.STREAM.MSG.GET." + obj,
		"$JS.API.DIRECT.GET." + obj + ".>",
		"$JS.API.CONSUMER.CREATE." + obj,
		"$JS.API.CONSUMER.CREATE." + obj + ".>",
		"$JS.API.CONSUMER.DELETE." + obj + ".*",
		"$JS.FC." + obj + ".>",
		"$JS.FC.*.*." + obj + ".>",
	}
}

// checkpointPublish is what keeping signed checkpoints (checkpoint.go)
// needs on their stream: create and look it up, publish a checkpoint,
// get them back by sequence. No purge or delete: that stream is created
// with both denied, like the log.
func checkpointPublish(stream string) []string {
	cs := CheckpointStream(stream)
	return []string{
		CheckpointSubjectPrefix + "." + stream,
		"$JS.API.STREAM.CREATE." + cs,
		"$JS.API.STREAM.UPDATE." + cs,
		"$JS.API.STREAM.INFO." + cs,
		"$JS.API.STREAM.MSG.GET." + cs,
		"$JS.API.DIRECT.GET." + cs,
		"$JS.API.DIRECT.GET." + cs + ".>",
	}
}

func readerPublish(stream string) []string {
	return []string{
		"$JS.API.INFO",
		"$JS.API.STREAM.NAMES",
		"$JS.API.STREAM.LIST",
		"$JS.API.STREAM.INFO." + stream,
		"$JS.API.STREAM.MSG.GET." + stream,
		"$JS.API.DIRECT.GET." + stream,
		"$JS.API.DIRECT.GET." + stream + ".>",
		"$JS.API.CONSUMER.CREATE." + stream,
		"$JS.API.CONSUMER.CREATE." + stream + ".>",
		"$JS.API.CONSUMER.DURABLE.CREATE." + stream + ".*",
		"$JS.API.CONSUMER.INFO." + stream + ".*",
		"$JS.API.CONSUMER.NAMES." + stream,
		"$JS.API.CONSUMER.LIST." + stream,
		"$JS.API.CONSUMER.MSG.NEXT." + stream + ".*",
		// Readers delete their ordered consumers when done.
		"$JS.API.CONSUMER.DELETE." + stream + ".*",
		// Acks and push flow control, in the server's two subject formats.
		"$JS.ACK." + stream + ".>",
		"$JS.ACK.*.*." + stream + ".>",
		"$JS.FC." + stream + ".>",
		"$JS.FC.*.*." + stream + ".>",
	}
}

// RedactURL returns a NATS URL (or a comma-separated list) fit for logs
// and error messages: a password or token in it is replaced.
func RedactURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		u, err := url.Parse(p)
		if err != nil || u.User == nil {
			if strings.Contains(p, "@") { // unparseable, but may hold a secret
				parts[i] = "redacted@" + p[strings.LastIndex(p, "@")+1:]
			}
			continue
		}
		if _, hasPassword := u.User.Password(); hasPassword {
			u.User = url.UserPassword(u.User.Username(), "redacted")
		} else {
			u.User = url.User("redacted") // a token
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}

func urlHasUserinfo(s string) bool {
	for p := range strings.SplitSeq(s, ",") {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			return true
		}
	}
	return false
}

// natsErrorHandler logs a connection's asynchronous errors, among them
// the server's permission violations, which otherwise only surface as a
// request timing out.
func natsErrorHandler(log *slog.Logger) nats.Option {
	return nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		log.Warn("NATS error", "err", fmt.Sprint(err))
	})
}

// userNames lists the users as role:name, for logs.
func userNames(users []NATSUser) string {
	names := make([]string, len(users))
	for i, u := range users {
		names[i] = u.String()
	}
	return strings.Join(names, ",")
}
