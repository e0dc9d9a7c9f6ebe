package httpclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/adapters/httpapi"
	"github.com/licledger/licledger/adapters/httpclient"
	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/projections"
)

// The client's wire types are the server's, as the server writes them:
// every answer of a walk through every method decodes into the client's
// type with unknown fields refused (a field the server added and the
// client lacks fails here) and encodes back to the same JSON (a field the
// client names, omits or formats differently fails here).
func TestWireTypesRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := startLedger(t)
	rec := &recorder{}
	hc := &http.Client{Transport: rec}
	admin := l.client(t, adminToken, httpclient.WithHTTPClient(hc))
	product := l.client(t, clientToken, httpclient.WithHTTPClient(hc))
	expires := t0.AddDate(1, 0, 0)

	var sub, perp *httpclient.ActivateResponse
	var subKey, perpKey string // the license keys the create and purchase issued
	steps := []struct {
		name string
		call func() (any, error)
	}{
		{"Ready", func() (any, error) { return admin.Ready(ctx) }},
		{"RegisterPlatform", func() (any, error) {
			return admin.RegisterPlatform(ctx, httpclient.RegisterRequest{ID: "acme", Nodes: []string{"mn-1"}, RequestCode: "RC-1"})
		}},
		{"AddNode", func() (any, error) { return admin.AddNode(ctx, "acme", "mn-2") }},
		{"UploadLicense", func() (any, error) {
			return admin.UploadLicense(ctx, "acme", []byte(bundle), "application/json", httpclient.WithIdempotencyKey("upload-1"))
		}},
		{"InsertUSBKey", func() (any, error) {
			return admin.InsertUSBKey(ctx, "acme", "mn-1", httpclient.USBKeyRequest{KeyID: "K-1", Licenses: []httpclient.License{
				{ID: "L-9", Kind: "plus", Module: "container-cpu", Quantity: 64, IssuedAt: t0, ExpiresAt: &expires}}})
		}},
		{"AddHost kvm", func() (any, error) {
			return admin.AddHost(ctx, "acme", httpclient.HostRequest{Host: "h-1", Hypervisor: "kvm", Sockets: 2})
		}},
		{"AddHost vmware", func() (any, error) {
			return admin.AddHost(ctx, "acme", httpclient.HostRequest{Host: "h-2", Hypervisor: "vmware", Sockets: 4})
		}},
		{"Entitlement", func() (any, error) { return product.Entitlement(ctx, "acme", time.Time{}) }},
		{"RemoveUSBKey", func() (any, error) {
			l.Clock.Advance(24 * time.Hour)
			return admin.RemoveUSBKey(ctx, "acme", "mn-1", "K-1")
		}},
		{"Entitlement in grace", func() (any, error) { return product.Entitlement(ctx, "acme", time.Time{}) }},
		{"Entitlement as of", func() (any, error) { return product.Entitlement(ctx, "acme", t0.Add(time.Second)) }},
		{"Timeline page", func() (any, error) { return admin.Timeline(ctx, "acme", 0, 3) }},
		{"Timeline rest", func() (any, error) { return admin.Timeline(ctx, "acme", 3, 0) }},
		{"RemoveHost", func() (any, error) { return admin.RemoveHost(ctx, "acme", "h-2") }},
		{"DeleteLicense", func() (any, error) { return admin.DeleteLicense(ctx, "acme", "L-2") }},
		{"RemoveNode", func() (any, error) { return admin.RemoveNode(ctx, "acme", "mn-2") }},

		{"CreateSubscription", func() (any, error) {
			r, err := admin.CreateSubscription(ctx, httpclient.SubscriptionRequest{ID: "S-1", Customer: "acme",
				Plan: httpclient.InstancePlan{Name: "team", Instances: 2, Devices: 10, Assets: 100}, Period: "monthly", LeaseSeconds: 3600})
			subKey = r.LicenseKey
			return r, err
		}},
		{"Activate subscription", func() (r any, err error) {
			sub, err = product.Activate(ctx, httpclient.ActivateRequest{LicenseKey: subKey, ProductVersion: "5.2.0"},
				httpclient.WithIdempotencyKey("boot-1"))
			return sub, err
		}},
		{"Check subscription", func() (any, error) {
			l.Clock.Advance(30 * time.Minute)
			return product.Check(ctx, sub.InstanceID, httpclient.CheckRequest{LicenseKey: sub.License, Secret: sub.Secret, ProductVersion: "5.3.0"})
		}},
		{"ChangePlan", func() (any, error) {
			return admin.ChangePlan(ctx, "S-1", httpclient.InstancePlan{Name: "business", Instances: 3}, httpclient.WithIdempotencyKey("plan-1"))
		}},
		{"AddInstances", func() (any, error) { return admin.AddInstances(ctx, "S-1", 2) }},
		{"MarkPastDue", func() (any, error) { return admin.MarkPastDue(ctx, "S-1", "INV-1") }},
		{"Renew", func() (any, error) { return admin.Renew(ctx, "S-1", "PAY-1") }},
		{"GetSubscription", func() (any, error) { return admin.GetSubscription(ctx, "S-1", time.Time{}) }},
		{"Deactivate", func() (any, error) {
			return product.Deactivate(ctx, sub.InstanceID, httpclient.DeactivateRequest{LicenseKey: sub.License, Secret: sub.Secret})
		}},
		{"Cancel", func() (any, error) { return admin.Cancel(ctx, "S-1", "moved on") }},
		{"GetSubscription canceled", func() (any, error) { return admin.GetSubscription(ctx, "S-1", time.Time{}) }},
		{"GetSubscription as of", func() (any, error) { return admin.GetSubscription(ctx, "S-1", t0.Add(25*time.Hour)) }},

		{"PurchasePerpetual", func() (any, error) {
			r, err := admin.PurchasePerpetual(ctx, httpclient.PerpetualRequest{ID: "P-1", Customer: "acme",
				Plan: httpclient.InstancePlan{Name: "perpetual", Instances: 1}, LeaseSeconds: 7200})
			perpKey = r.LicenseKey
			return r, err
		}},
		{"Activate perpetual", func() (r any, err error) {
			perp, err = product.Activate(ctx, httpclient.ActivateRequest{LicenseKey: perpKey, ProductVersion: "5.2.0", ReleasedAt: t0})
			return perp, err
		}},
		{"Check perpetual", func() (any, error) {
			return product.Check(ctx, perp.InstanceID, httpclient.CheckRequest{LicenseKey: perp.License, Secret: perp.Secret})
		}},
		{"RenewUpdates", func() (any, error) { return admin.RenewUpdates(ctx, "P-1", "") }},
		{"GetPerpetual", func() (any, error) { return admin.GetPerpetual(ctx, "P-1", time.Time{}) }},
		{"CreateSubscription S-2", func() (any, error) {
			return admin.CreateSubscription(ctx, httpclient.SubscriptionRequest{ID: "S-2", Plan: httpclient.InstancePlan{Name: "solo"}, Period: "annual"})
		}},
		{"AttachFallback", func() (any, error) { return admin.AttachFallback(ctx, "S-2", "P-1") }},
		{"GetSubscription with fallback", func() (any, error) { return admin.GetSubscription(ctx, "S-2", time.Time{}) }},
		{"DetachFallback", func() (any, error) { return admin.DetachFallback(ctx, "S-2") }},
		{"Deactivate by admin with reason", func() (any, error) {
			return admin.Deactivate(ctx, perp.InstanceID, httpclient.DeactivateRequest{LicenseKey: perp.License, Reason: "moved to new hardware"})
		}},
		{"GetPerpetual released", func() (any, error) { return admin.GetPerpetual(ctx, "P-1", time.Time{}) }},
		{"LedgerKeys", func() (any, error) { return product.LedgerKeys(ctx) }},
		{"SignedEntitlement", func() (any, error) { return product.SignedEntitlement(ctx, "acme", time.Time{}) }},

		{"CreateCoupon", func() (any, error) {
			return admin.CreateCoupon(ctx, httpclient.CouponRequest{Code: "C-1", Partner: "reseller-1", DiscountPercent: 20,
				RedemptionLimit: 5, ExpiresAt: t0.AddDate(0, 6, 0)})
		}},
		{"RedeemCoupon", func() (any, error) { return admin.RedeemCoupon(ctx, "C-1", "S-1") }},
		{"RedeemCoupon without subscription", func() (any, error) { return admin.RedeemCoupon(ctx, "C-1", "") }},
		{"GetCoupon", func() (any, error) { return admin.GetCoupon(ctx, "C-1", time.Time{}) }},
	}
	for _, st := range steps {
		got, err := st.call()
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		raw := rec.body()
		strict := reflect.New(reflect.TypeOf(got).Elem()).Interface()
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(strict); err != nil {
			t.Errorf("%s: the server's answer does not decode strictly into %T: %v\n%s", st.name, got, err, raw)
			continue
		}
		for what, v := range map[string]any{"strictly decoded": strict, "returned": got} {
			back, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			if a, b := generic(t, raw), generic(t, back); !reflect.DeepEqual(a, b) {
				t.Errorf("%s: the %s %T encodes differently from the server's answer:\nserver: %s\nclient: %s", st.name, what, got, compact(raw), back)
			}
		}
	}
}

// generic decodes JSON into maps, slices and json.Numbers, for comparing
// documents whatever their key order.
func generic(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("data after the JSON value: %s", b)
	}
	return v
}

func compact(b []byte) string {
	var out bytes.Buffer
	if json.Compact(&out, b) != nil {
		return string(b)
	}
	return out.String()
}

// Every wire type names the JSON fields of the server's type it mirrors,
// with the same optionality, nested types included: this catches a field
// the server added (or the client dropped) even where the walk above never
// sees it set, and request fields the client cannot send.
func TestWireTypesMirrorServer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ client, server any }{
		{httpclient.RegisterRequest{}, httpapi.RegisterRequest{}},
		{httpclient.HostRequest{}, httpapi.HostRequest{}},
		{httpclient.USBKeyRequest{}, httpapi.USBKeyRequest{}},
		{httpclient.License{}, domain.License{}},
		{httpclient.CommandResult{}, httpapi.CommandResult{}},
		{httpclient.LicenseCommandResult{}, httpapi.LicenseCommandResult{}},
		{httpclient.AppendedEvent{}, httpapi.AppendedEvent{}},
		{httpclient.Entitlement{}, domain.Entitlement{}},
		{httpclient.ModuleEntitlement{}, domain.ModuleEntitlement{}},
		{httpclient.TimelineEntry{}, projections.TimelineEntry{}},
		{httpclient.ProjectionStatus{}, projections.Status{}},
		{httpclient.SubscriptionRequest{}, httpapi.SubscriptionRequest{}},
		{httpclient.PerpetualRequest{}, httpapi.PerpetualRequest{}},
		{httpclient.CouponRequest{}, httpapi.CouponRequest{}},
		{httpclient.ActivateRequest{}, httpapi.ActivateRequest{}},
		{httpclient.CheckRequest{}, httpapi.CheckRequest{}},
		{httpclient.DeactivateRequest{}, httpapi.DeactivateRequest{}},
		{httpclient.ActivateResponse{}, httpapi.ActivateResponse{}},
		{httpclient.InstanceCheckReply{}, domain.InstanceCheckReply{}},
		{httpclient.SubscriptionDoc{}, domain.SubscriptionDoc{}},
		{httpclient.PerpetualDoc{}, domain.PerpetualDoc{}},
		{httpclient.CouponDoc{}, domain.CouponDoc{}},
	} {
		c, s := reflect.TypeOf(tc.client), reflect.TypeOf(tc.server)
		t.Run(c.Name(), func(t *testing.T) {
			for _, diff := range mirror(c, s, c.Name()) {
				t.Error(diff)
			}
		})
	}
}

// jsonField is one JSON member of a struct type.
type jsonField struct {
	typ      reflect.Type
	optional bool // omitempty or omitzero
}

// jsonFields lists the JSON members of struct type t as encoding/json
// names them, with embedded structs flattened.
func jsonFields(t reflect.Type) map[string]jsonField {
	out := map[string]jsonField{}
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		optional := false
		for o := range strings.SplitSeq(opts, ",") {
			optional = optional || o == "omitempty" || o == "omitzero"
		}
		out[name] = jsonField{typ: f.Type, optional: optional}
	}
	return out
}

var (
	timeType      = reflect.TypeFor[time.Time]()
	marshalerType = reflect.TypeFor[json.Marshaler]()
)

// mirror compares the JSON members of client type c and server type s
// (structs), recursing into nested structs unless the server's marshals
// itself (those are compared by the round trip above).
func mirror(c, s reflect.Type, path string) []string {
	var diffs []string
	cf, sf := jsonFields(c), jsonFields(s)
	for name, f := range sf {
		g, ok := cf[name]
		switch {
		case !ok:
			diffs = append(diffs, path+"."+name+": the server has it, the client does not")
			continue
		case g.optional != f.optional:
			diffs = append(diffs, path+"."+name+": optional on one side only (omitempty/omitzero)")
		}
		ct, st := elem(g.typ), elem(f.typ)
		if ct.Kind() == reflect.Struct && st.Kind() == reflect.Struct && st != timeType && ct != timeType &&
			!st.Implements(marshalerType) && !reflect.PointerTo(st).Implements(marshalerType) {
			diffs = append(diffs, mirror(ct, st, path+"."+name)...)
		}
	}
	for name := range cf {
		if _, ok := sf[name]; !ok {
			diffs = append(diffs, path+"."+name+": the client has it, the server does not")
		}
	}
	return diffs
}

// elem unwraps pointers, slices and maps to the type of their values.
func elem(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	return t
}
