package domain

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CheckpointFormat names the checkpoint layout below (FORMAT.md,
// "Checkpoints"). A later layout gets a new name; a verifier refuses one
// it does not know rather than guess.
const CheckpointFormat = "licledger-checkpoint/1"

// Checkpoint is the ledger's signed statement that its log, up to LastSeq,
// holds exactly the aggregates whose chain heads hash to Root. Anyone with
// the ledger's public key and the log (live or exported) can recompute and
// check it; a log rewritten or truncated after the checkpoint no longer
// matches it. An auditor keeps checkpoints wherever they like: a
// checkpoint alone proves nothing was changed since.
type Checkpoint struct {
	Format     string    `json:"format"`
	Stream     string    `json:"stream"`
	LastSeq    uint64    `json:"last_seq"`
	Time       time.Time `json:"time"`
	Aggregates int       `json:"aggregates"`
	Events     uint64    `json:"events"`
	Root       string    `json:"root"` // hex SHA-256 Merkle root (CheckpointRoot)
	// LegacyUnmarked counts the events before the first event the ledger
	// marked (written before marking existed): kept and covered by the
	// root, vouched for only by this checkpoint.
	LegacyUnmarked uint64 `json:"legacy_unmarked"`
	// Foreign lists the stream sequences of events after marking began
	// that carry no valid ledger mark: the ledger did not write them
	// (published straight to the stream). They are in the root (they are
	// in the log), and the ledger signs that it does not vouch for them.
	Foreign   []uint64 `json:"foreign"`
	KeyID     string   `json:"key_id"`
	Signature string   `json:"signature"` // base64url (no padding) Ed25519 over SignedBytes
}

// ChainHead is one aggregate's last event as of a checkpoint: a leaf of
// the Merkle tree.
type ChainHead struct {
	Aggregate string // the event subject, e.g. "platform/P-1"
	Version   uint64
	Digest    string // hex SHA-256 of the stored bytes (Digest)
}

// CheckpointLeaf is the leaf hash of one chain head:
//
//	SHA-256(0x00 || uint32be(len(aggregate)) || aggregate || uint64be(version) || digest)
//
// where digest is the 32 raw bytes of the head's SHA-256 (not its hex).
// The 0x00 prefix separates leaves from inner nodes (RFC 6962).
func CheckpointLeaf(h ChainHead) ([32]byte, error) {
	d, err := hex.DecodeString(h.Digest)
	if err != nil || len(d) != sha256.Size {
		return [32]byte{}, Errorf(EINVALID, "chain head of %s: digest %q is not a hex SHA-256", h.Aggregate, h.Digest)
	}
	b := make([]byte, 0, 1+4+len(h.Aggregate)+8+len(d))
	b = append(b, 0x00)
	b = binary.BigEndian.AppendUint32(b, uint32(len(h.Aggregate)))
	b = append(b, h.Aggregate...)
	b = binary.BigEndian.AppendUint64(b, h.Version)
	b = append(b, d...)
	return sha256.Sum256(b), nil
}

// CheckpointRoot is the Merkle root, in hex, over the heads sorted by
// aggregate (byte order): RFC 6962's Merkle Tree Hash with the leaves of
// CheckpointLeaf, inner node = SHA-256(0x01 || left || right), a tree of
// n > 1 leaves split at the largest power of two below n, and the empty
// tree SHA-256 of nothing. heads is sorted in place.
func CheckpointRoot(heads []ChainHead) (string, error) {
	slices.SortFunc(heads, func(a, b ChainHead) int { return strings.Compare(a.Aggregate, b.Aggregate) })
	leaves := make([][32]byte, len(heads))
	for i, h := range heads {
		if i > 0 && heads[i-1].Aggregate == h.Aggregate {
			return "", Errorf(EINVALID, "chain heads: %s appears twice", h.Aggregate)
		}
		l, err := CheckpointLeaf(h)
		if err != nil {
			return "", err
		}
		leaves[i] = l
	}
	root := merkle(leaves)
	return hex.EncodeToString(root[:]), nil
}

func merkle(leaves [][32]byte) [32]byte {
	switch len(leaves) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	l, r := merkle(leaves[:k]), merkle(leaves[k:])
	var b [65]byte
	b[0] = 0x01
	copy(b[1:], l[:])
	copy(b[33:], r[:])
	return sha256.Sum256(b[:])
}

// SignedBytes is what the signature covers: one "name value\n" line per
// field, in this order, times in RFC 3339 with nanoseconds in UTC,
// foreign as comma-separated decimals (empty when none):
//
//	licledger-checkpoint/1
//	stream LEDGER
//	last_seq 42
//	time 2026-11-27T20:00:00.123456789Z
//	aggregates 7
//	events 42
//	root 3f0c...
//	legacy_unmarked 0
//	foreign 17,23
//	key_id ledger-0a1b2c3d
//
// A text layout rather than JSON, so that a verifier in any language
// rebuilds it without a canonical JSON encoder.
func (c Checkpoint) SignedBytes() []byte {
	var b bytes.Buffer
	b.WriteString(CheckpointFormat + "\n")
	fmt.Fprintf(&b, "stream %s\n", c.Stream)
	fmt.Fprintf(&b, "last_seq %d\n", c.LastSeq)
	fmt.Fprintf(&b, "time %s\n", c.Time.UTC().Format(time.RFC3339Nano))
	fmt.Fprintf(&b, "aggregates %d\n", c.Aggregates)
	fmt.Fprintf(&b, "events %d\n", c.Events)
	fmt.Fprintf(&b, "root %s\n", c.Root)
	fmt.Fprintf(&b, "legacy_unmarked %d\n", c.LegacyUnmarked)
	foreign := make([]string, len(c.Foreign))
	for i, s := range c.Foreign {
		foreign[i] = strconv.FormatUint(s, 10)
	}
	fmt.Fprintf(&b, "foreign %s\n", strings.Join(foreign, ","))
	fmt.Fprintf(&b, "key_id %s\n", c.KeyID)
	return b.Bytes()
}

// VerifySignature checks the checkpoint's format and its signature with
// pub. Errors are EINVALID and say which.
func (c Checkpoint) VerifySignature(pub ed25519.PublicKey) error {
	if c.Format != CheckpointFormat {
		return Errorf(EINVALID, "checkpoint format %q, want %q", c.Format, CheckpointFormat)
	}
	if len(pub) != ed25519.PublicKeySize {
		return Errorf(EINVALID, "the public key is %d bytes, not %d", len(pub), ed25519.PublicKeySize)
	}
	sig, err := base64.RawURLEncoding.DecodeString(c.Signature)
	if err != nil || !ed25519.Verify(pub, c.SignedBytes(), sig) {
		return Errorf(EINVALID, "the checkpoint's signature does not verify with the public key given (checkpoint key_id %s)", c.KeyID)
	}
	return nil
}
