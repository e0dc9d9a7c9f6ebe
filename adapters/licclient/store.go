package licclient

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/licledger/licledger/domain"
)

// The state file: what a restart needs to resume without the ledger (a
// restart during an outage keeps running on the stored answer). It holds
// the instance secret, so it is written 0600; the answer in it is trusted
// only after its signature verifies again at start, so editing the file
// never extends the product's time.

// stateFormat names the state file's layout.
const stateFormat = "licledger-licclient/1"

// stored is the instance and its last verified answer.
type stored struct {
	Instance string
	Secret   string
	Signed   *domain.Signed
	Claims   domain.AnswerClaims // verified from Signed; never read from the file
	keys     map[string]ed25519.PublicKey
	// refusal is Client.refusal, kept across a restart.
	refusal refusal
}

// refusal is the instance the ledger last refused, and the issue instant
// of the newest answer for it the client held then.
type refusal struct {
	Instance string    `json:"instance"`
	After    time.Time `json:"after"`
}

type stateFile struct {
	Format   string            `json:"format"`
	License  string            `json:"license"`
	Instance string            `json:"instance"`
	Secret   string            `json:"secret"`
	Answer   *domain.Signed    `json:"answer,omitempty"`
	Keys     map[string][]byte `json:"keys,omitempty"` // trusted on first use; base64 in JSON
	// Refused: answers for its instance issued at or before its After
	// predate a refusal (a replay of one must not undo it).
	Refused *refusal `json:"refused,omitempty"`
}

// load reads the state file. A missing file is no error (a first start).
// An answer that does not verify, or is another instance's or license's,
// is dropped and its error returned; the instance and secret are kept (the
// ledger decides whether they still hold a seat).
func (c *Client) load() error {
	if c.cfg.StateFile == "" {
		return nil
	}
	b, err := os.ReadFile(c.cfg.StateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("licclient: state file: %w", err)
	}
	var f stateFile
	if err := json.Unmarshal(b, &f); err != nil || f.Format != stateFormat {
		return fmt.Errorf("licclient: state file %s is not a %s file; starting without it", c.cfg.StateFile, stateFormat)
	}
	if f.License != c.lic.Aggregate.String() {
		return fmt.Errorf("licclient: state file %s is for %s, not %s; starting without it", c.cfg.StateFile, f.License, c.lic.Aggregate)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cfg.Keys == nil {
		for id, k := range f.Keys {
			if len(k) == ed25519.PublicKeySize {
				c.keys[id] = ed25519.PublicKey(k)
			}
		}
	}
	c.st = stored{Instance: f.Instance, Secret: f.Secret}
	if f.Refused != nil {
		c.refusal = *f.Refused
	}
	if f.Answer == nil {
		return nil
	}
	claims, err := domain.VerifyAnswer(c.keys, *f.Answer)
	if err == nil && (claims.Instance != f.Instance || claims.License != c.lic.Aggregate.String()) {
		err = domain.Reasonf(domain.EUNAUTHORIZED, domain.ReasonBadAnswerSignature, "the stored answer is for %s on %s, not this instance", claims.Instance, claims.License)
	}
	if err != nil {
		return fmt.Errorf("licclient: stored answer rejected: %w", err)
	}
	c.st.Signed, c.st.Claims = f.Answer, claims
	return nil
}

// save writes st whole under a temporary name and renames it, so a crash
// never leaves half a file.
func (c *Client) save(st stored) error {
	if c.cfg.StateFile == "" {
		return nil
	}
	f := stateFile{Format: stateFormat, License: c.lic.Aggregate.String(), Instance: st.Instance, Secret: st.Secret, Answer: st.Signed}
	if st.refusal.Instance != "" {
		f.Refused = &st.refusal
	}
	if c.cfg.Keys == nil {
		f.Keys = map[string][]byte{}
		for id, k := range st.keys {
			f.Keys[id] = k
		}
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("licclient: state file: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(c.cfg.StateFile), 0o700); err != nil {
		return fmt.Errorf("licclient: state file: %w", err)
	}
	tmp := c.cfg.StateFile + ".tmp"
	w, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("licclient: state file: %w", err)
	}
	_, werr := w.Write(append(b, '\n'))
	if err := errors.Join(werr, w.Sync(), w.Close()); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("licclient: state file: %w", err)
	}
	if err := os.Rename(tmp, c.cfg.StateFile); err != nil {
		return fmt.Errorf("licclient: state file: %w", err)
	}
	return nil
}

// forget removes the state file (after a deactivation: its secret opens
// nothing any more).
func (c *Client) forget() error {
	if c.cfg.StateFile == "" {
		return nil
	}
	if err := os.Remove(c.cfg.StateFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("licclient: state file: %w", err)
	}
	return nil
}
