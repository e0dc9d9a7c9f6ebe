package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	auditorPassword = "auditor-password-0123456789"
	billingPassword = "billing-password-0123456789"
	// hashedPasswordBcrypt is the bcrypt hash (cost 4) of hashedPassword.
	hashedPassword       = "hashed-password-0123456789"
	hashedPasswordBcrypt = "$2a$04$6a9sZKTqxuvZj0x0HXc7SeD2vQMYpQmXRlG1CZFR6UL0jETEuY.pO"
)

var testUsers = []eventstore.NATSUser{
	{Role: eventstore.RoleAuditor, Name: "audit-team", Password: auditorPassword},
	{Role: eventstore.RoleBilling, Name: "erp", Password: billingPassword},
}

// openListening opens a Mutable ledger (so that only the permissions can
// stop a purge or a message delete) whose embedded server listens on a
// loopback port with users, and records one event.
func openListening(t *testing.T, users []eventstore.NATSUser) (*eventstore.Store, domain.Aggregate) {
	t.Helper()
	s := eventstoretest.MustOpenStore(t, eventstoretest.Mutable(), eventstoretest.WithConfig(func(c *eventstore.Config) {
		c.Listen = "127.0.0.1:0"
		c.Users = users
	}))
	agg := platform("acme")
	mustAppend(t, s, agg, 0, hostAdded(t, agg, "h-1"))
	return s, agg
}

// natsClient is a raw NATS connection that keeps the asynchronous errors
// the server sent it: a permission violation arrives only that way.
type natsClient struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	errs chan error
}

func dial(t *testing.T, url string, opts ...nats.Option) (*natsClient, error) {
	t.Helper()
	c := &natsClient{errs: make(chan error, 64)}
	opts = append(opts, nats.MaxReconnects(0), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case c.errs <- err:
		default:
		}
	}))
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, err
	}
	t.Cleanup(nc.Close)
	c.nc = nc
	if c.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	return c, nil
}

func mustDial(t *testing.T, url string, opts ...nats.Option) *natsClient {
	t.Helper()
	c, err := dial(t, url, opts...)
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	return c
}

// wantViolation waits for the server's permission violation on subject.
func (c *natsClient) wantViolation(t *testing.T, subject string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case err := <-c.errs:
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), `"`+subject+`"`) {
				return
			}
			t.Logf("other NATS error: %v", err)
		case <-timeout:
			t.Fatalf("no permission violation for %s", subject)
		}
	}
}

// forged is what the outside test published: a platform.registered event
// that did not come from the ledger.
func forged(t *testing.T) []byte {
	t.Helper()
	e, err := domain.NewEvent("platform/x", domain.EventPlatformRegistered, domain.PlatformRegistered{Nodes: []string{"mn-1"}})
	if err != nil {
		t.Fatal(err)
	}
	e.SpecVersion, e.ID, e.Source, e.Time, e.AggregateVersion = "1.0", "01J00000000000000000000666", "mallory", time.Now().UTC(), 1
	return canonicalEvent(t, e)
}

// checkReader connects to url as a reader (opts carry its credentials)
// and checks what it may and may not do to the ledger that ledger writes
// with, whose only aggregate is agg.
func checkReader(t *testing.T, url string, ledger *eventstore.Store, agg domain.Aggregate, opts ...nats.Option) {
	t.Helper()
	stream := ledger.StreamName()
	before := mustLastSeq(t, ledger)
	history := mustLoad(t, ledger, agg)
	last := history[len(history)-1]

	t.Run("reads", func(t *testing.T) {
		c := mustDial(t, url, opts...)
		ctx := testCtx(t)
		st, err := c.js.Stream(ctx, stream)
		if err != nil {
			t.Fatalf("stream info: %v", err)
		}
		if got := st.CachedInfo().State.LastSeq; got != before {
			t.Errorf("stream info: last seq %d, want %d", got, before)
		}
		direct, err := st.GetLastMsgForSubject(ctx, "ledger.platform.acme")
		if err != nil {
			t.Fatalf("direct get: %v", err)
		}
		if string(direct.Data) != string(last.Raw) {
			t.Errorf("direct get = %s, want %s", direct.Data, last.Raw)
		}
		resp, err := c.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+stream, []byte(`{"seq":1}`))
		if err != nil {
			t.Fatalf("msg get: %v", err)
		}
		var got struct {
			Message struct{ Seq uint64 } `json:"message"`
			Error   *struct{ Description string }
		}
		if err := json.Unmarshal(resp.Data, &got); err != nil || got.Error != nil || got.Message.Seq != 1 {
			t.Errorf("msg get answered %s (%v)", resp.Data, err)
		}
	})

	t.Run("store read only", func(t *testing.T) {
		// What `audit verify --nats` and `billing tail --nats` do: ordered
		// consumers, a durable consumer with acks.
		ro := openReader(t, url, opts)
		if got := len(mustLoad(t, ro, agg)); got != len(history) {
			t.Errorf("Load = %d events, want %d", got, len(history))
		}
		if rep := mustVerify(t, ro); !rep.OK() || rep.Events != before {
			t.Errorf("Verify = %+v, want OK with %d events", rep, before)
		}
		cons, err := ro.Consumer(testCtx(t), eventstore.ConsumerOptions{Durable: "reader-" + strings.ReplaceAll(t.Name(), "/", "-")})
		if err != nil {
			t.Fatalf("durable consumer: %v", err)
		}
		d, err := cons.Next(testCtx(t))
		if err != nil {
			t.Fatalf("consumer next: %v", err)
		}
		if err := d.Ack(testCtx(t)); err != nil {
			t.Fatalf("consumer ack: %v", err)
		}
		_, err = ro.Append(testCtx(t), agg, last.Event.AggregateVersion, hostAdded(t, agg, "h-ro"))
		wantCode(t, err, domain.EFORBIDDEN, "")
	})

	t.Run("refused", func(t *testing.T) {
		tests := []struct {
			name    string
			subject string // of the violation
			do      func(t *testing.T, ctx context.Context, c *natsClient) error
		}{
			{"publish an event", "ledger.platform.x", func(t *testing.T, ctx context.Context, c *natsClient) error {
				if err := c.nc.Publish("ledger.platform.x", forged(t)); err != nil {
					return err
				}
				return c.nc.FlushWithContext(ctx)
			}},
			{"publish an event through JetStream", "ledger.platform.x", func(t *testing.T, ctx context.Context, c *natsClient) error {
				_, err := c.js.Publish(ctx, "ledger.platform.x", forged(t))
				return err
			}},
			{"delete the stream", "$JS.API.STREAM.DELETE." + stream, func(t *testing.T, ctx context.Context, c *natsClient) error {
				return c.js.DeleteStream(ctx, stream)
			}},
			{"purge the stream", "$JS.API.STREAM.PURGE." + stream, func(t *testing.T, ctx context.Context, c *natsClient) error {
				st, err := c.js.Stream(ctx, stream)
				if err != nil {
					t.Fatalf("stream info: %v", err)
				}
				return st.Purge(ctx)
			}},
			{"delete a message", "$JS.API.STREAM.MSG.DELETE." + stream, func(t *testing.T, ctx context.Context, c *natsClient) error {
				st, err := c.js.Stream(ctx, stream)
				if err != nil {
					t.Fatalf("stream info: %v", err)
				}
				return st.DeleteMsg(ctx, 1)
			}},
			{"reconfigure the stream", "$JS.API.STREAM.UPDATE." + stream, func(t *testing.T, ctx context.Context, c *natsClient) error {
				cfg := ledger.StreamConfig()
				cfg.Subjects = []string{"ledger.nothing.>"}
				_, err := c.js.UpdateStream(ctx, cfg)
				return err
			}},
			{"create a stream", "$JS.API.STREAM.CREATE.SHADOW", func(t *testing.T, ctx context.Context, c *natsClient) error {
				_, err := c.js.CreateStream(ctx, jetstream.StreamConfig{Name: "SHADOW", Subjects: []string{"shadow.>"}})
				return err
			}},
			{"listen to the JetStream API", "$JS.API.>", func(t *testing.T, ctx context.Context, c *natsClient) error {
				if _, err := c.nc.SubscribeSync("$JS.API.>"); err != nil {
					return err
				}
				return c.nc.FlushWithContext(ctx)
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				c := mustDial(t, url, opts...)
				// A refused request is dropped by the server: the call can
				// only time out, and the violation comes on its own.
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				_ = tt.do(t, ctx, c)
				c.wantViolation(t, tt.subject)
			})
		}
	})

	// Nothing the reader tried changed the log, and the ledger carries on.
	if got := mustLastSeq(t, ledger); got != before {
		t.Fatalf("last seq = %d after the reader's attempts, want %d", got, before)
	}
	st, err := ledger.JetStream().Stream(testCtx(t), stream)
	if err != nil {
		t.Fatalf("the stream is gone: %v", err)
	}
	if cfg := st.CachedInfo().Config; !slices.Equal(cfg.Subjects, []string{"ledger.>"}) {
		t.Fatalf("stream subjects = %v, want ledger.>", cfg.Subjects)
	}
	if got := st.CachedInfo().State.Msgs; got != before {
		t.Fatalf("stream holds %d messages, want %d", got, before)
	}
	var streams []string
	for name := range ledger.JetStream().StreamNames(testCtx(t)).Name() {
		streams = append(streams, name)
	}
	if !slices.Equal(streams, []string{stream}) {
		t.Fatalf("streams = %v, want only %s", streams, stream)
	}
	mustAppend(t, ledger, agg, last.Event.AggregateVersion, hostAdded(t, agg, "h-after"))
	ro := openReader(t, url, opts)
	if got := len(mustLoad(t, ro, agg)); got != len(history)+1 {
		t.Fatalf("reader sees %d events after the ledger appended, want %d", got, len(history)+1)
	}
}

// openReader opens a ReadOnly store on url with a reader's credentials.
func openReader(t *testing.T, url string, opts []nats.Option) *eventstore.Store {
	t.Helper()
	var creds eventstore.Credentials
	// The tests' readers present a user and password, or nothing.
	o := nats.GetDefaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			t.Fatal(err)
		}
	}
	creds.User, creds.Password = o.User, o.Password
	return eventstoretest.MustOpenStore(t, eventstoretest.WithURL(url), eventstoretest.WithConfig(func(c *eventstore.Config) {
		c.ReadOnly = true
		c.Credentials = creds
	}))
}

// The embedded server's NATS port: auditors and billing systems read with
// their passwords, and can neither write, delete nor purge; nobody gets in
// without a password.
func TestListenWithUsers(t *testing.T) {
	t.Parallel()
	s, agg := openListening(t, testUsers)
	url := s.ClientURL()
	for _, u := range testUsers {
		t.Run(u.Role, func(t *testing.T) {
			checkReader(t, url, s, agg, nats.UserInfo(u.Name, u.Password))
		})
	}
}

// A users file may hold a bcrypt hash instead of the password: the
// server checks the password against it, and the hash itself is no
// password.
func TestListenWithHashedPassword(t *testing.T) {
	t.Parallel()
	s, agg := openListening(t, []eventstore.NATSUser{{Role: eventstore.RoleAuditor, Name: "hashed", Password: hashedPasswordBcrypt}})
	ro := openReader(t, s.ClientURL(), []nats.Option{nats.UserInfo("hashed", hashedPassword)})
	if got := len(mustLoad(t, ro, agg)); got != 1 {
		t.Fatalf("Load = %d events, want 1", got)
	}
	if _, err := dial(t, s.ClientURL(), nats.UserInfo("hashed", hashedPasswordBcrypt)); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("connect with the hash as the password: %v, want %v", err, nats.ErrAuthorization)
	}
}

func TestListenRefusesStrangers(t *testing.T) {
	t.Parallel()
	s, _ := openListening(t, testUsers)
	url := s.ClientURL()
	tests := []struct {
		name string
		opts []nats.Option
	}{
		{"no credentials", nil},
		{"wrong password", []nats.Option{nats.UserInfo("audit-team", billingPassword)}},
		{"unknown user", []nats.Option{nats.UserInfo("mallory", auditorPassword)}},
		{"the ledger's name", []nats.Option{nats.UserInfo(eventstore.LedgerUser, "")}},
		{"a token", []nats.Option{nats.Token(auditorPassword)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := dial(t, url, tt.opts...)
			if !errors.Is(err, nats.ErrAuthorization) {
				t.Fatalf("connect: %v, want %v", err, nats.ErrAuthorization)
			}
		})
	}
	t.Run("store with a wrong password", func(t *testing.T) {
		t.Parallel()
		_, err := eventstore.Open(testCtx(t), eventstore.Config{URL: url, ReadOnly: true,
			Credentials: eventstore.Credentials{User: "erp", Password: auditorPassword}})
		wantCode(t, err, domain.EUNAUTHORIZED, "")
		if strings.Contains(err.Error(), auditorPassword) {
			t.Fatalf("the error shows the password: %v", err)
		}
	})
}

// Without users the port is loopback only, and a client without
// credentials may read but not write.
func TestListenWithoutUsersIsLocalAndReadOnly(t *testing.T) {
	t.Parallel()
	buf := &eventstoretest.SyncBuffer{}
	s := eventstoretest.MustOpenStore(t, eventstoretest.Mutable(), eventstoretest.WithLogger(bufferLogger(buf)),
		eventstoretest.WithConfig(func(c *eventstore.Config) { c.Listen = "127.0.0.1:0" }))
	agg := platform("acme")
	mustAppend(t, s, agg, 0, hostAdded(t, agg, "h-1"))
	if !strings.Contains(buf.String(), "NO NATS USERS CONFIGURED") {
		t.Errorf("no warning about the unauthenticated port in the log:\n%s", buf.String())
	}
	if strings.Contains(buf.String(), "Plaintext passwords") {
		t.Errorf("the server warns of a plain-text password the ledger set:\n%s", buf.String())
	}
	checkReader(t, s.ClientURL(), s, agg)
	if _, err := dial(t, s.ClientURL(), nats.UserInfo("someone", "a-password-that-is-long")); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("connect with unknown credentials: %v, want %v", err, nats.ErrAuthorization)
	}
}

// The loopback guard, and settings that belong to the other kind of
// server: EINVALID before anything is opened.
func TestOpenRefusesAccessSettings(t *testing.T) {
	t.Parallel()
	url := "nats://127.0.0.1:1" // never dialled: the settings are refused first
	userPass := eventstore.Credentials{User: "licledger", Password: "a-long-ledger-password"}
	tests := []struct {
		name string
		cfg  eventstore.Config
		want string
	}{
		{"every interface without users", eventstore.Config{Listen: "0.0.0.0:0"}, "without NATS users"},
		{"empty host without users", eventstore.Config{Listen: ":4222"}, "without NATS users"},
		{"IPv6 any without users", eventstore.Config{Listen: "[::]:4222"}, "without NATS users"},
		{"public address without users", eventstore.Config{Listen: "192.0.2.10:4222"}, "without NATS users"},
		{"host name without users", eventstore.Config{Listen: "ledger.example:4222"}, "without NATS users"},
		{"users without a listen address", eventstore.Config{Users: testUsers}, "need a listen address"},
		{"users on an external server", eventstore.Config{URL: url, Users: testUsers}, "deploy/nats-server.conf"},
		{"credentials for the embedded server", eventstore.Config{Credentials: userPass}, "external NATS"},
		{"a bad user", eventstore.Config{Listen: "127.0.0.1:0", Users: []eventstore.NATSUser{{Role: "admin", Name: "x", Password: auditorPassword}}}, "unknown role"},
		{"password without user", eventstore.Config{URL: url, Credentials: eventstore.Credentials{Password: "a-long-ledger-password"}}, "needs a user"},
		{"user without password", eventstore.Config{URL: url, Credentials: eventstore.Credentials{User: "licledger"}}, "no password"},
		{"two kinds of credentials", eventstore.Config{URL: url, Credentials: eventstore.Credentials{User: "licledger", Password: "a-long-ledger-password", CredsFile: "x.creds"}}, "not several"},
		{"credentials twice", eventstore.Config{URL: "nats://u:p@127.0.0.1:1", Credentials: userPass}, "give them once"},
		{"missing creds file", eventstore.Config{URL: url, Credentials: eventstore.Credentials{CredsFile: "/nonexistent.creds"}}, "creds file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.cfg.URL == "" {
				tt.cfg.DataDir = t.TempDir()
			}
			s, err := eventstore.Open(testCtx(t), tt.cfg)
			if err == nil {
				s.Close()
			}
			wantCode(t, err, domain.EINVALID, "")
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "a-long-ledger-password") || strings.Contains(err.Error(), auditorPassword) {
				t.Errorf("error shows a password: %v", err)
			}
		})
	}
}

func TestParseNATSUsers(t *testing.T) {
	t.Parallel()
	const hash = hashedPasswordBcrypt
	tests := []struct {
		name    string
		in      string
		want    []eventstore.NATSUser
		wantErr string
	}{
		{"two users, comments, blank lines", "# role name password\n\nauditor audit-team " + auditorPassword + "\n  billing\terp\t" + billingPassword + "  \n", testUsers, ""},
		{"a password with '#' in it", "billing erp pass#word-0123456789\n", []eventstore.NATSUser{{Role: "billing", Name: "erp", Password: "pass#word-0123456789"}}, ""},
		{"a bcrypt hash", "auditor a " + hash + "\n", []eventstore.NATSUser{{Role: "auditor", Name: "a", Password: hash}}, ""},
		{"empty", "# nothing\n", nil, "no NATS users"},
		{"missing password", "auditor a\n", nil, "line 1"},
		{"password with a space", "auditor a two words-0123456789\n", nil, "line 1"},
		{"unknown role", "admin a " + auditorPassword + "\n", nil, "unknown role"},
		{"short password", "auditor a short-secret\n", nil, "shorter than 16"},
		{"same name twice", "auditor a " + auditorPassword + "\nbilling a " + billingPassword + "\n", nil, "twice"},
		{"the ledger's name", "auditor licledger " + auditorPassword + "\n", nil, "reserved"},
		{"a bad name", "auditor a/b " + auditorPassword + "\n", nil, "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := eventstore.ParseNATSUsers([]byte(tt.in))
			if tt.wantErr != "" {
				wantCode(t, err, domain.EINVALID, "")
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %q does not say %q", err, tt.wantErr)
				}
				for _, secret := range []string{auditorPassword, billingPassword, "short-secret", "words-0123456789"} {
					if strings.Contains(err.Error(), secret) {
						t.Fatalf("error shows a password: %v", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSecretsStayOutOfStrings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		got  string
	}{
		{"user", testUsers[0].String()},
		{"user as a log value", testUsers[0].LogValue().String()},
		{"credentials", eventstore.Credentials{User: "erp", Password: billingPassword}.String()},
		{"credentials as a log value", eventstore.Credentials{User: "erp", Password: billingPassword}.LogValue().String()},
		{"URL", eventstore.RedactURL("nats://erp:" + billingPassword + "@ledger:4222")},
		{"URL list", eventstore.RedactURL("nats://a:4222, nats://erp:" + billingPassword + "@b:4222")},
		{"token URL", eventstore.RedactURL("nats://" + billingPassword + "@ledger:4222")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if strings.Contains(tt.got, billingPassword) || strings.Contains(tt.got, auditorPassword) {
				t.Fatalf("%q shows a password", tt.got)
			}
		})
	}
	if got, want := eventstore.RedactURL("nats://erp:pw@ledger:4222,nats://b:4222"), "nats://erp:redacted@ledger:4222,nats://b:4222"; got != want {
		t.Errorf("RedactURL = %q, want %q", got, want)
	}
}
