package eventstore

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// The ledger's key only ever signs in in-process: over TCP even a valid
// signature is refused.
func TestLedgerUserIsInProcessOnly(t *testing.T) {
	t.Parallel()
	reader := NATSUser{Role: RoleAuditor, Name: "audit-team", Password: "auditor-password-0123456789"}
	cfg := Config{Stream: DefaultStream, Listen: "127.0.0.1:0", Users: []NATSUser{reader}}
	ledgerKey, signIn, err := ledgerIdentity()
	if err != nil {
		t.Fatal(err)
	}
	opts := &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true}
	if err := serverAuth(opts, &cfg, ledgerKey); err != nil {
		t.Fatal(err)
	}
	if opts.NoAuthUser != "" {
		t.Fatalf("no-auth user %q with users configured", opts.NoAuthUser)
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(30 * time.Second) {
		t.Fatal("server did not start")
	}
	tests := []struct {
		name      string
		inProcess bool
		creds     nats.Option
		wantErr   error
	}{
		{"ledger in-process", true, signIn, nil},
		{"ledger over TCP", false, signIn, nats.ErrAuthorization},
		{"reader over TCP", false, nats.UserInfo(reader.Name, reader.Password), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url, opts := srv.ClientURL(), []nats.Option{tt.creds, nats.MaxReconnects(0)}
			if tt.inProcess {
				url, opts = "", append(opts, nats.InProcessServer(srv))
			}
			nc, err := nats.Connect(url, opts...)
			if err == nil {
				nc.Close()
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("connect: %v, want %v", err, tt.wantErr)
			}
		})
	}
}
