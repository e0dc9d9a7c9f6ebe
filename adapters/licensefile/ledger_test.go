package licensefile

import (
	"archive/tar"
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// testLedger is a real embedded JetStream store and the command layer
// serve records uploads through.
type testLedger struct {
	store *eventstore.Store
	clock *eventstoretest.Clock
	x     *eventstore.Executor[*domain.PlatformState]
}

func newTestLedger(t *testing.T) *testLedger {
	t.Helper()
	clock := eventstoretest.NewClock(ts("2026-03-01T00:00:00Z"))
	store := eventstoretest.MustOpenStore(t, eventstoretest.WithClock(clock.Now))
	return &testLedger{store: store, clock: clock, x: eventstore.NewExecutor(store, eventstore.Platforms, eventstore.ExecutorConfig{})}
}

func (l *testLedger) command(t *testing.T, platform string, cmd domain.PlatformCommand) {
	t.Helper()
	_, isRegister := cmd.(domain.RegisterPlatform)
	_, err := l.x.Execute(context.Background(), eventstore.Command[*domain.PlatformState]{ID: platform, Creates: isRegister,
		Decide: func(s *domain.PlatformState, now time.Time) ([]domain.Event, error) {
			return domain.DecidePlatform(s, cmd, now)
		}})
	if err != nil {
		t.Fatalf("%T: %v", cmd, err)
	}
}

// submit records an upload on a platform as serve does: the verified
// upload, or its refusal, decided by domain.DecideUpload with this
// package's request-code check. A recorded refusal comes back as the
// error the API answers with.
func (l *testLedger) submit(ctx context.Context, v *Verifier, platform string, raw []byte, contentType, actor string) error {
	up, perr := v.ParseUpload(raw, contentType)
	u := domain.Upload{Digest: domain.Digest(raw), Refused: perr, Actor: actor}
	if perr == nil {
		u.Command, u.Check = up.Command(), up.CheckPlatform
	}
	res, err := l.x.Execute(ctx, eventstore.Command[*domain.PlatformState]{ID: platform,
		Decide: func(s *domain.PlatformState, now time.Time) ([]domain.Event, error) {
			return domain.DecideUpload(s, u, now)
		}})
	if err != nil {
		return err
	}
	events := make([]domain.Event, len(res.Records))
	for i, r := range res.Records {
		events[i] = r.Event
	}
	return domain.UploadRefusal(events)
}

func (l *testLedger) history(t *testing.T, platform string) []domain.Event {
	t.Helper()
	recs, err := l.store.Load(context.Background(), domain.Aggregate{Kind: domain.KindPlatform, ID: platform})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]domain.Event, len(recs))
	for i, r := range recs {
		out[i] = r.Event
	}
	return out
}

// entitlement is the platform's entitlement document at at.
func (l *testLedger) entitlement(t *testing.T, platform string, at time.Time) string {
	t.Helper()
	s, err := domain.PlatformAsOf(l.history(t, platform), platform, at)
	if err != nil {
		t.Fatal(err)
	}
	b, err := domain.MarshalEntitlement(domain.PlatformEntitlement(s, at))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// R9–R12, R15, end to end through the real event store and domain: every
// accepted upload is recorded whole; every refusal is recorded as one
// license.upload_rejected audit event with the file's digest and reason,
// and changes nothing else.
func TestSubmitRecordsUploadsAndRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newTestLedger(t)
	l.command(t, "acme", domain.RegisterPlatform{Platform: "acme", Nodes: []string{"mn-1", "mn-2"}, RequestCode: testCode})
	key := testKey(t, "vendor-2026")
	v := testVerifier(t, Limits{}, key)
	rc := Binding{RequestCode: testCode}
	submit := func(raw []byte, contentType string) error {
		return l.submit(ctx, v, "acme", raw, contentType, "alice")
	}

	bundle := mustBundle(t,
		Entry{Name: "base.license", Data: mustIssue(t, baseLicense("L-1"), rc, key)},
		Entry{Name: "vmware.license", Data: mustIssue(t, plusLicense("L-2", "vmware", 8), rc, key)})
	if err := submit(bundle, "application/gzip"); err != nil {
		t.Fatalf("bundle refused: %v", err)
	}
	evs := l.history(t, "acme")
	if got, want := len(evs), 3; got != want {
		t.Fatalf("%d events after the bundle, want %d (register + 2 licenses)", got, want)
	}
	for _, e := range evs[1:] {
		d, err := domain.PlatformEventData(e)
		if err != nil {
			t.Fatal(err)
		}
		up := d.(*domain.LicenseUploaded)
		if up.Digest != domain.Digest(bundle) || up.Bundle != "B-"+domain.Digest(bundle)[:16] || up.Source != domain.SourceRequestCode {
			t.Fatalf("uploaded event %+v does not carry the bundle's digest, id and source", up)
		}
	}
	// A retried upload is accepted again and records nothing new.
	if err := submit(bundle, ""); err != nil || len(l.history(t, "acme")) != 3 {
		t.Fatalf("retry: %v, %d events", err, len(l.history(t, "acme")))
	}

	otherCode := mustIssue(t, plusLicense("L-3", "gpu", 0), Binding{RequestCode: "RC-OTHER"}, key)
	tampered := bytes.Replace(mustIssue(t, plusLicense("L-4", "gpu", 0), rc, key), []byte(`"gpu"`), []byte(`"cdp"`), 1)
	untrusted := mustIssue(t, plusLicense("L-5", "gpu", 0), rc, testKey(t, "impostor"))
	symlink := rawTarGz(t, reg("base.license", mustIssue(t, baseLicense("L-6"), rc, key)),
		rawEntry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "evil", Linkname: "/etc/shadow"}})
	keyBound := mustIssue(t, plusLicense("L-7", "tenant", 0), Binding{USBKey: "K-1"}, key)
	expired := plusLicense("L-8", "cdp", 0)
	expired.IssuedAt, expired.ExpiresAt = ts("2025-01-01T00:00:00Z"), tsp("2026-01-01T00:00:00Z")
	changed := baseLicense("L-1")
	changed.Sockets = 64

	type refusal struct {
		name         string
		raw          []byte
		before       func() // sets the platform's state up first
		code, reason string
	}
	refusals := []refusal{
		{"R11 wrong request code", otherCode, nil, domain.EFORBIDDEN, domain.ReasonWrongRequestCode},
		{"R11 bad signature", tampered, nil, domain.EINVALID, domain.ReasonBadSignature},
		{"R11 untrusted key", untrusted, nil, domain.EFORBIDDEN, domain.ReasonUnknownSigningKey},
		{"R11 malformed", []byte(`{"format":"licledger-license/1"}`), nil, domain.EINVALID, domain.ReasonMalformed},
		{"R10 symlink in bundle", symlink, nil, domain.EINVALID, domain.ReasonBundleBadEntry},
		{"R12 no key inserted", keyBound, nil, domain.ECONFLICT, domain.ReasonKeyNotInserted},
		{"R12 another key inserted", keyBound, func() {
			l.command(t, "acme", domain.InsertUSBKey{Node: "mn-2", KeyID: "K-2"})
		}, domain.ECONFLICT, domain.ReasonWrongKey},
		{"R12 R16 the bound key inserted after another (abnormal: the earliest authorizes)", keyBound, func() {
			l.command(t, "acme", domain.InsertUSBKey{Node: "mn-1", KeyID: "K-1"})
		}, domain.ECONFLICT, domain.ReasonWrongKey},
		{"expired on arrival", mustIssue(t, expired, rc, key), nil, domain.EINVALID, domain.ReasonExpiredOnArrival},
		{"duplicate license", mustIssue(t, changed, rc, key), nil, domain.ECONFLICT, domain.ReasonDuplicateLicense},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before != nil {
				tt.before()
			}
			at := l.clock.Now()
			before := l.entitlement(t, "acme", at)
			n := len(l.history(t, "acme"))

			err := submit(tt.raw, "")
			wantRefusal(t, err, tt.code, tt.reason)
			answered := domain.ErrorMessage(err)

			evs := l.history(t, "acme")
			if got, want := len(evs), n+1; got != want {
				t.Fatalf("%d events after the refusal, want %d (one audit event)", got, want)
			}
			last := evs[len(evs)-1]
			if last.Type != domain.EventLicenseUploadRejected {
				t.Fatalf("last event %s, want %s", last.Type, domain.EventLicenseUploadRejected)
			}
			d, err := domain.PlatformEventData(last)
			if err != nil {
				t.Fatal(err)
			}
			got := *d.(*domain.LicenseUploadRejected)
			want := domain.LicenseUploadRejected{Digest: domain.Digest(tt.raw), Code: tt.code, Reason: tt.reason, Message: got.Message, Actor: "alice"}
			if got != want || got.Message == "" || !strings.HasPrefix(answered, got.Message) {
				t.Fatalf("audit event\n got %+v\nwant %+v", got, want)
			}
			if after := l.entitlement(t, "acme", at); after != before {
				t.Fatalf("a refused upload changed the entitlement:\nbefore %s\nafter %s", before, after)
			}
		})
	}

	// R12, R15: once the bound key is the one that authorizes — here on
	// the other node than where the platform was first keyed — the same
	// file is accepted.
	l.command(t, "acme", domain.RemoveUSBKey{Node: "mn-2", KeyID: "K-2"})
	if err := submit(keyBound, "application/json"); err != nil {
		t.Fatalf("key-bound upload with its key inserted: %v", err)
	}
	last := l.history(t, "acme")
	d, _ := domain.PlatformEventData(last[len(last)-1])
	if up, ok := d.(*domain.LicenseUploaded); !ok || up.Source != domain.SourceUSBKey || up.KeyID != "K-1" || up.License.ID != "L-7" {
		t.Fatalf("last event %+v, want L-7 uploaded from USB key K-1", d)
	}

	// An unknown platform has nothing to record a refusal on: not found.
	err := l.submit(ctx, v, "nowhere", otherCode, "", "alice")
	if domain.ErrorCode(err) != domain.ENOTFOUND || domain.ErrorReason(err) != domain.ReasonUnknownPlatform {
		t.Fatalf("unknown platform: %v", err)
	}
	if n := len(l.history(t, "nowhere")); n != 0 {
		t.Fatalf("unknown platform got %d events", n)
	}
}
