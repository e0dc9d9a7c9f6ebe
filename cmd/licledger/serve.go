package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/licledger/licledger/adapters/hid"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/licledger/licledger/adapters/httpapi"
	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

func init() {
	register("serve", "run the ledger: event store, projections and the HTTP API", runServe)
}

// envFlags registers flags whose defaults come from environment variables
// (a flag on the command line wins over its variable, which wins over the
// built-in default) and documents the variable in --help.
type envFlags struct {
	fs   *flag.FlagSet
	errs []string
}

func (e *envFlags) str(p *string, name, env, def, usage string) {
	if v, ok := os.LookupEnv(env); ok {
		def = v
	}
	e.fs.StringVar(p, name, def, usage+" (env "+env+")")
}

func (e *envFlags) boolean(p *bool, name, env string, def bool, usage string) {
	if v, ok := os.LookupEnv(env); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			e.errs = append(e.errs, fmt.Sprintf("%s=%q is not a boolean", env, v))
		}
		def = b
	}
	e.fs.BoolVar(p, name, def, usage+" (env "+env+")")
}

func (e *envFlags) integer(p *int64, name, env string, def int64, usage string) {
	if v, ok := os.LookupEnv(env); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			e.errs = append(e.errs, fmt.Sprintf("%s=%q is not a number", env, v))
		}
		def = n
	}
	e.fs.Int64Var(p, name, def, usage+" (env "+env+")")
}

// serveOptions are the parsed flags of serve.
type serveOptions struct {
	data, http, nats, natsListen, stream, projections, tokensFile, logLevel string
	ledgerKey, natsUsers                                                    string
	natsAuth                                                                natsAuthFlags
	replicas, maxBody, maxUpload, maxConns                                  int64
	syncAlways                                                              bool
	trustedKeys, snapshotEvery                                              string
	insecureJSON                                                            bool
	usb                                                                     hid.NodeOptions
	usbKeyFiles                                                             string
	checkpointEvery                                                         string
}

func serveFlags(stderr io.Writer) (*flag.FlagSet, *serveOptions, *envFlags) {
	o := &serveOptions{}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	e := &envFlags{fs: fs}
	e.str(&o.data, "data", "LICLEDGER_DATA", "./data", "data directory: embedded JetStream under DIR/jetstream, projections in DIR/projections.db")
	e.str(&o.http, "http", "LICLEDGER_HTTP", "127.0.0.1:8080", "HTTP listen address; without tokens only a loopback address is allowed")
	e.str(&o.nats, "nats", "LICLEDGER_NATS", "", "NATS URL of an external server or cluster; empty embeds one in the data directory")
	e.str(&o.natsListen, "nats-listen", "LICLEDGER_NATS_LISTEN", "", "embedded server only: also accept NATS clients on this address (e.g. 127.0.0.1:4222), to read only; without --nats-users only a loopback address is allowed")
	e.str(&o.natsUsers, "nats-users", "LICLEDGER_NATS_USERS", "", "with --nats-listen: file of the NATS users who may read, lines \"auditor|billing NAME PASSWORD\" (PASSWORD may be a bcrypt hash)")
	o.natsAuth.register(fs)
	e.str(&o.stream, "stream", "LICLEDGER_STREAM", "LEDGER", "JetStream stream name")
	e.integer(&o.replicas, "replicas", "LICLEDGER_REPLICAS", 1, "stream replicas (more than 1 needs a NATS cluster)")
	e.boolean(&o.syncAlways, "sync-always", "LICLEDGER_SYNC_ALWAYS", false, "embedded server only: fsync every append before acknowledging it (survives power loss, slower)")
	e.str(&o.projections, "projections", "LICLEDGER_PROJECTIONS", "", "projections SQLite database (default DATA/projections.db)")
	e.str(&o.snapshotEvery, "snapshot-every", "LICLEDGER_SNAPSHOT_EVERY", "", "store a projections snapshot beside the log this often (e.g. 1h; 0: never), for new replicas to start from instead of the whole log; default 1h with --nats, never with the embedded store")
	e.str(&o.ledgerKey, "ledger-key", "LICLEDGER_LEDGER_KEY", "", "the ledger's own key, created there on first start (default DATA/ledger.key); every replica needs the same file")
	e.str(&o.tokensFile, "tokens", "LICLEDGER_TOKENS_FILE", "", "bearer tokens file: JSON {\"tokens\":[{\"role\":...,\"token\":...}]} or lines \"role token\"; LICLEDGER_TOKENS may hold the same inline (\"admin:TOKEN,client:TOKEN\")")
	e.integer(&o.maxBody, "max-body", "LICLEDGER_MAX_BODY", httpapi.DefaultMaxBodyBytes, "largest request body in bytes (larger: 413)")
	e.integer(&o.maxConns, "max-connections", "LICLEDGER_MAX_CONNECTIONS", httpapi.DefaultMaxConnections, "most HTTP connections held at once; more are answered 503 server-busy with Retry-After")
	e.integer(&o.maxUpload, "max-upload", "LICLEDGER_MAX_UPLOAD", httpapi.DefaultMaxUploadBytes, "largest license upload body in bytes (larger: 413, not recorded); bundles over the reader's own limit are read and recorded as rejected")
	e.str(&o.checkpointEvery, "checkpoint-every", "LICLEDGER_CHECKPOINT_EVERY", DefaultCheckpointEvery.String(), "sign a checkpoint this often when the log has grown, and at shutdown; 0 turns both off (POST /v1/audit/checkpoints still signs one)")
	e.str(&o.logLevel, "log-level", "LICLEDGER_LOG_LEVEL", "info", "log level: debug, info, warn, error")
	e.str(&o.trustedKeys, "trusted-keys", "LICLEDGER_TRUSTED_KEYS", "", "vendor public key file, or directory of *.pub keys, that signed license uploads are verified against; without it (or --insecure-json-licenses) license uploads are refused")
	e.boolean(&o.insecureJSON, "insecure-json-licenses", "LICLEDGER_INSECURE_JSON_LICENSES", false, "accept unsigned license JSON objects as uploads instead of signed files: development only, any admin can grant any license")
	e.str(&o.usb.Platform, "platform", "LICLEDGER_PLATFORM", "", "USB key watcher: the platform this management node belongs to")
	e.str(&o.usb.Node, "node", "LICLEDGER_NODE", "", "USB key watcher: this management node's id (e.g. mn-1)")
	e.str(&o.usb.Vendor, "usb-vendor", "LICLEDGER_USB_VENDOR", "", "USB key watcher: USB vendor id of the license dongles, hex (e.g. 0x096e); without it the watcher is off")
	e.str(&o.usb.Product, "usb-product", "LICLEDGER_USB_PRODUCT", "", "USB key watcher: USB product id, hex (default: any product of the vendor)")
	e.str(&o.usb.Poll, "usb-poll", "LICLEDGER_USB_POLL", "1s", "USB key watcher: poll interval")
	e.integer(&o.usb.Debounce, "usb-debounce", "LICLEDGER_USB_DEBOUNCE", 2, "USB key watcher: consecutive polls a key change must be seen on before it is recorded")
	e.str(&o.usbKeyFiles, "usb-key-files", "LICLEDGER_USB_KEY_FILES", "reference", "USB key watcher: reader of the signed license files a key stores, recorded with its insertion (needs --trusted-keys): "+keyFileReaderNames()+" (adapters/hid/PROTOCOL.md)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: licledger serve [flags]")
		fmt.Fprintln(stderr, "\nRuns the ledger until SIGINT or SIGTERM, then drains requests, checkpoints the projections and")
		fmt.Fprintln(stderr, "closes the event store. Roles: admin (commands and queries), auditor (queries, timeline, verify),")
		fmt.Fprintln(stderr, "billing (entitlements, licenses, platforms, events), client (entitlements).")
		fmt.Fprintln(stderr, "Without tokens every request is admin, and only a loopback address may be served.")
		fmt.Fprintln(stderr, "License uploads are signed files verified against --trusted-keys; without it they are refused")
		fmt.Fprintln(stderr, "(403 license-uploads-disabled) unless --insecure-json-licenses accepts unsigned JSON (development).")
		fmt.Fprintln(stderr, "With --usb-vendor, --platform and --node, a USB key watcher records this node's license dongles;")
		fmt.Fprintln(stderr, "with --trusted-keys too, it records the licenses of the signed files each key stores with its insertion.")
		fmt.Fprintln(stderr, "With --nats-listen, NATS clients sign in as a user of --nats-users and may only read the ledger;")
		fmt.Fprintln(stderr, "without users only a loopback address may be served, to clients without credentials, read only.")
		fmt.Fprintln(stderr, "With --nats URL, the ledger signs in with --nats-user (password: --nats-password-file or")
		fmt.Fprintln(stderr, "LICLEDGER_NATS_PASSWORD), --nats-creds or --nats-nkey; deploy/nats-server.conf has the permissions.")
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
	}
	return fs, o, e
}

// loadTokens resolves the tokens from --tokens/LICLEDGER_TOKENS_FILE and
// LICLEDGER_TOKENS; when both are given, the tokens of both count.
func loadTokens(file string) (*httpapi.Tokens, error) {
	var sets []*httpapi.Tokens
	if file != "" {
		t, err := httpapi.LoadTokens(file)
		if err != nil {
			return nil, err
		}
		sets = append(sets, t)
	}
	if v := os.Getenv("LICLEDGER_TOKENS"); strings.TrimSpace(v) != "" {
		t, err := httpapi.ParseTokens([]byte(v))
		if err != nil {
			return nil, domain.Errorf(domain.EINVALID, "LICLEDGER_TOKENS: %s", domain.ErrorMessage(err))
		}
		sets = append(sets, t)
	}
	return httpapi.MergeTokens(sets...)
}

func parseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, domain.Errorf(domain.EINVALID, "log level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// mainFromFlags builds a Main from serve's flags and environment.
func mainFromFlags(args []string, stderr io.Writer) (*Main, error) {
	return mainFromFlagsWith(args, stderr, realHardware)
}

// mainFromFlagsWith is mainFromFlags with the USB hardware chosen by the
// caller (tests pass fakes: USB hardware is the one edge they fake).
func mainFromFlagsWith(args []string, stderr io.Writer, hw hardware) (*Main, error) {
	fs, o, e := serveFlags(stderr)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if len(e.errs) > 0 {
		return nil, domain.Errorf(domain.EINVALID, "%s", strings.Join(e.errs, "; "))
	}
	level, err := parseLogLevel(o.logLevel)
	if err != nil {
		return nil, err
	}
	tokens, err := loadTokens(o.tokensFile)
	if err != nil {
		return nil, err
	}
	creds, err := o.natsAuth.credentials(o.nats)
	if err != nil {
		return nil, err
	}
	var natsUsers []eventstore.NATSUser
	if o.natsUsers != "" {
		if natsUsers, err = eventstore.LoadNATSUsers(o.natsUsers); err != nil {
			return nil, err
		}
	}
	snapshotEvery, err := parseSnapshotEvery(o.snapshotEvery, o.nats)
	if err != nil {
		return nil, err
	}
	every, err := time.ParseDuration(o.checkpointEvery)
	if err != nil || every < 0 {
		return nil, domain.Errorf(domain.EINVALID, "--checkpoint-every %q is not a duration (e.g. 10m, or 0 for none)", o.checkpointEvery)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	m := NewMain()
	m.Config = MainConfig{DataDir: o.data, HTTPAddr: o.http, NATSURL: o.nats, NATSListen: o.natsListen, NATSUsers: natsUsers, NATSCredentials: creds, Stream: o.stream,
		Replicas: int(o.replicas), SyncAlways: o.syncAlways, ProjectionsPath: o.projections, LedgerKeyPath: o.ledgerKey, Tokens: tokens, MaxBodyBytes: o.maxBody, MaxUploadBytes: o.maxUpload,
		SnapshotEvery: snapshotEvery, MaxConnections: int(o.maxConns), Logger: log, CheckpointEvery: every}
	verifier, err := wireLicenseUploads(m, o.trustedKeys, o.insecureJSON, log)
	if err != nil {
		return nil, err
	}
	files, err := keyFiles(o.usbKeyFiles, verifier, hw)
	if err != nil {
		return nil, err
	}
	usb, err := hid.NewNode(o.usb, hw.enumerator, files)
	if err != nil {
		return nil, err
	}
	wireUSBWatcher(m, usb, log)
	return m, nil
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	m, err := mainFromFlags(args, stderr)
	if err != nil {
		return err
	}
	if err := m.Run(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	m.log.Info("shutting down: draining requests, checkpointing projections, closing the event store")
	if err := m.Close(); err != nil {
		return err
	}
	m.log.Info("stopped")
	return nil
}
