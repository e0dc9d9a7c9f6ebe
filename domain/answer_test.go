package domain

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

type testSigner struct {
	id   string
	priv ed25519.PrivateKey
}

func (k testSigner) ID() string             { return k.id }
func (k testSigner) Sign(msg []byte) []byte { return ed25519.Sign(k.priv, msg) }

func newTestSigner(seed byte) (testSigner, ed25519.PublicKey) {
	s := make([]byte, ed25519.SeedSize)
	s[0] = seed
	priv := ed25519.NewKeyFromSeed(s)
	sum := sha256.Sum256(priv.Public().(ed25519.PublicKey))
	return testSigner{id: "ledger-" + hex.EncodeToString(sum[:4]), priv: priv}, priv.Public().(ed25519.PublicKey)
}

// R27 Decision (trust): a signed answer verifies with nothing but the
// public key and the bytes (the byte format of answer.go, checked here
// by hand: Ed25519 over the prefix and the payload), and any change to
// payload, signature or key id is refused bad-answer-signature.
func TestSignedAnswerVerifiesOffline(t *testing.T) {
	t.Parallel()
	key, pub := newTestSigner(1)
	other, otherPub := newTestSigner(2)
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	reply := InstanceCheckReply{License: "subscription/S-1", Instance: "I-1", Status: "active", Plan: InstancePlan{Name: "team", Instances: 2},
		InstanceLimit: 2, Version: "5.2.0", PeriodEnd: srvTimeText(now.AddDate(0, 1, 0)), LeaseSeconds: 86400}
	signed := SignAnswer(key, NewAnswerClaims(AnswerCheck, reply, now))

	// By hand, as another language would.
	payload, _ := base64.RawURLEncoding.DecodeString(signed.Payload)
	sig, _ := base64.RawURLEncoding.DecodeString(signed.Signature)
	if !ed25519.Verify(pub, append([]byte("licledger-answer/1\n"), payload...), sig) {
		t.Fatal("the signature does not verify over prefix + payload")
	}
	var raw map[string]any
	if err := json.Unmarshal(payload, &raw); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"license", "instance", "plan", "version", "issued_at", "valid_until", "key_id"} {
		if _, ok := raw[f]; !ok {
			t.Errorf("payload lacks %q: %s", f, payload)
		}
	}

	keys := map[string]ed25519.PublicKey{key.ID(): pub, other.ID(): otherPub}
	c, err := VerifyAnswer(keys, signed)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Until(), now.Add(24*time.Hour); !got.Equal(want) {
		t.Errorf("valid until %s, want %s (the lease)", got, want)
	}
	if c.Instance != "I-1" || c.License != "subscription/S-1" || c.Version != "5.2.0" || c.KeyID != key.ID() {
		t.Errorf("claims %+v", c)
	}

	tampered := strings.Replace(string(payload), `"I-1"`, `"I-2"`, 1)
	tests := []struct {
		name string
		s    Signed
	}{
		{"payload changed", Signed{KeyID: signed.KeyID, Payload: base64.RawURLEncoding.EncodeToString([]byte(tampered)), Signature: signed.Signature}},
		{"signature changed", Signed{KeyID: signed.KeyID, Payload: signed.Payload, Signature: base64.RawURLEncoding.EncodeToString(append(sig[:63:63], sig[63]^1))}},
		{"another key claimed", Signed{KeyID: other.ID(), Payload: signed.Payload, Signature: signed.Signature}},
		{"unknown key", Signed{KeyID: "ledger-00000000", Payload: signed.Payload, Signature: signed.Signature}},
		{"forged by another key", SignAnswer(other, NewAnswerClaims(AnswerCheck, reply, now))},
		{"entitlement signature passed as an answer", SignDocument(key, EntitlementSigningPrefix, payload)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks := keys
			if tt.name == "forged by another key" {
				ks = map[string]ed25519.PublicKey{key.ID(): pub} // the forger's key is not the ledger's
			}
			if _, err := VerifyAnswer(ks, tt.s); ErrorReason(err) != ReasonBadAnswerSignature {
				t.Errorf("VerifyAnswer = %v, want %s", err, ReasonBadAnswerSignature)
			}
		})
	}
}

// R27: an answer holds for the lease from its issue, also across the
// subscription's period end (a renewal may come while the product is
// offline; the next check learns the status).
func TestAnswerValidForTheLease(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		reply InstanceCheckReply
		want  time.Duration
	}{
		{"default lease", InstanceCheckReply{}, InstanceDefaultLease},
		{"one-hour lease", InstanceCheckReply{LeaseSeconds: 3600}, time.Hour},
		{"period ends sooner", InstanceCheckReply{PeriodEnd: srvTimeText(now.Add(2 * time.Hour)), LeaseSeconds: 86400}, 24 * time.Hour},
	} {
		if got := NewAnswerClaims(AnswerCheck, tc.reply, now).Until().Sub(now); got != tc.want {
			t.Errorf("%s: valid for %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A key endorsement verifies only with the endorsing key held, for the
// key id and public key it names, and not as an answer or a document.
func TestKeyEndorsement(t *testing.T) {
	root, rootPub := newTestSigner(1)
	rotated, rotatedPub := newTestSigner(2)
	held := map[string]ed25519.PublicKey{root.ID(): rootPub}
	e := EndorseKey(root, rotated.ID(), rotatedPub)
	if err := VerifyEndorsement(held, e, rotated.ID(), rotatedPub); err != nil {
		t.Fatalf("endorsement by the held root: %v", err)
	}
	_, otherPub := newTestSigner(3)
	for name, err := range map[string]error{
		"another public key":    VerifyEndorsement(held, e, rotated.ID(), otherPub),
		"another key id":        VerifyEndorsement(held, e, "ledger-other", rotatedPub),
		"endorser not held":     VerifyEndorsement(map[string]ed25519.PublicKey{}, e, rotated.ID(), rotatedPub),
		"self-endorsed new key": VerifyEndorsement(held, EndorseKey(rotated, rotated.ID(), rotatedPub), rotated.ID(), rotatedPub),
	} {
		if ErrorReason(err) != ReasonBadAnswerSignature {
			t.Errorf("%s: %v, want %s", name, err, ReasonBadAnswerSignature)
		}
	}
	if _, err := VerifyAnswer(held, e); err == nil {
		t.Error("an endorsement verified as an answer")
	}
}

// R27 Decision (trust): a signed refusal verifies as a refusal and never
// as an answer, and an answer never as a refusal, so neither can stand
// for the other; it keeps the hash of the credential presented, not the
// credential.
func TestSignedRefusal(t *testing.T) {
	key, pub := newTestSigner(7)
	keys := map[string]ed25519.PublicKey{key.ID(): pub}
	now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	refusal := SignAnswer(key, NewRefusalClaims("subscription/S-1", "I-1", "5.2.0", ReasonSubscriptionNotActive, "the-secret", now))
	c, err := VerifyRefusal(keys, refusal)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Status, ReasonSubscriptionNotActive; got != want {
		t.Errorf("status %q, want %q", got, want)
	}
	if got, want := c.Credential, HashSecret("the-secret"); got != want {
		t.Errorf("credential %q, want the secret's hash %q", got, want)
	}
	if payload, _ := base64.RawURLEncoding.DecodeString(refusal.Payload); strings.Contains(string(payload), "the-secret") {
		t.Errorf("the refusal carries the secret itself: %s", payload)
	}
	if _, err := VerifyAnswer(keys, refusal); ErrorReason(err) != ReasonBadAnswerSignature {
		t.Errorf("a refusal verified as an answer: %v", err)
	}
	answer := SignAnswer(key, NewAnswerClaims(AnswerCheck, InstanceCheckReply{License: "subscription/S-1", Instance: "I-1", Status: "active", LeaseSeconds: 3600}, now))
	if _, err := VerifyRefusal(keys, answer); ErrorReason(err) != ReasonBadAnswerSignature {
		t.Errorf("an answer verified as a refusal: %v", err)
	}
	other, _ := newTestSigner(8)
	if _, err := VerifyRefusal(keys, SignAnswer(other, NewRefusalClaims("subscription/S-1", "I-1", "5.2.0", ReasonSubscriptionNotActive, "the-secret", now))); ErrorReason(err) != ReasonBadAnswerSignature {
		t.Errorf("a refusal by another key verified: %v", err)
	}
}
