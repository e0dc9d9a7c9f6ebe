package hid

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// The wire constants of licledger-keyfiles/1 (PROTOCOL.md).
const (
	// ProtocolName names the reference protocol, for logs and /readyz.
	ProtocolName = "licledger-keyfiles/1"
	// ReportSize is the size of every request and answer (§1).
	ReportSize = 64
	// MaxKeyFiles, MaxKeyFileSize and MaxKeyFilesTotal are the limits of
	// §5: more fails the read.
	MaxKeyFiles      = 64
	MaxKeyFileSize   = 65536
	MaxKeyFilesTotal = 256 << 10

	protoVersion = 0x01
	answerBit    = 0x80
	headerSize   = 7                       // magic, version, command, sequence, status, length
	chunkSize    = ReportSize - headerSize // data bytes an answer holds
	maxStale     = 16                      // unrelated reports discarded per request (§4)
	maxDrain     = 64                      // queued reports discarded on opening (§4)
	busyPause    = 20 * time.Millisecond
)

var magic = [2]byte{0x4c, 0x46} // "LF"

// Commands (§2) and statuses (§3).
const (
	cmdCount = 0x01
	cmdStat  = 0x02
	cmdRead  = 0x03

	statusOK        = 0x00
	statusUnknown   = 0x01
	statusNoFile    = 0x02
	statusBadOffset = 0x03
	statusBusy      = 0x04
	statusStorage   = 0x05
)

var commandNames = map[byte]string{cmdCount: "COUNT", cmdStat: "STAT", cmdRead: "READ"}

var statusNames = map[byte]string{
	statusUnknown: "unknown command or version", statusNoFile: "no such file",
	statusBadOffset: "offset out of range", statusBusy: "busy", statusStorage: "storage failure",
}

// ReportConfig tunes a ReportReader; zero fields take PROTOCOL.md's values.
type ReportConfig struct {
	ReportTimeout time.Duration // an answer's deadline after its request; default 1s
	Attempts      int           // sends of one request before the read fails; default 3
	ReadTimeout   time.Duration // reading all of one key's files; default 30s
}

func (c ReportConfig) withDefaults() ReportConfig {
	if c.ReportTimeout <= 0 {
		c.ReportTimeout = time.Second
	}
	if c.Attempts <= 0 {
		c.Attempts = 3
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = 30 * time.Second
	}
	return c
}

// ReportReader is the KeyFileReader of the reference protocol
// licledger-keyfiles/1 (PROTOCOL.md) over the Transport open gives it. It
// keeps no state between reads and is safe for concurrent use.
type ReportReader struct {
	open TransportOpener
	cfg  ReportConfig
}

// NewReportReader returns the reference reader over open: OpenHIDTransport
// in serve, a fake transport in tests.
func NewReportReader(open TransportOpener, cfg ReportConfig) *ReportReader {
	return &ReportReader{open: open, cfg: cfg.withDefaults()}
}

// ReadFiles reads every license file dongle dev stores (§5). Errors name
// the device; a dongle answering outside the protocol wraps ErrProtocol.
func (r *ReportReader) ReadFiles(ctx context.Context, dev Device) ([][]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.ReadTimeout)
	defer cancel()
	t, err := r.open(ctx, dev)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dev.Path, err)
	}
	s := &session{ctx: ctx, t: t, cfg: r.cfg}
	files, err := s.readAll()
	if cerr := t.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close: %w", cerr)
	}
	if err != nil {
		return nil, fmt.Errorf("%s on %s: %w", ProtocolName, dev.Path, err)
	}
	return files, nil
}

// session is one read of one dongle.
type session struct {
	ctx context.Context
	t   Transport
	cfg ReportConfig
	seq byte
	buf [ReportSize]byte
}

func (s *session) readAll() ([][]byte, error) {
	s.drain()
	data, err := s.exchange(cmdCount, 0, 0)
	if err != nil {
		return nil, err
	}
	if len(data) != 1 {
		return nil, protocolErr("COUNT answered %d bytes, want 1", len(data))
	}
	count := int(data[0])
	if count > MaxKeyFiles {
		return nil, protocolErr("the key stores %d files, more than the %d allowed", count, MaxKeyFiles)
	}
	type stat struct {
		size int
		sum  []byte
	}
	stats := make([]stat, count)
	total := 0
	for i := range stats {
		data, err := s.exchange(cmdStat, byte(i), 0)
		if err != nil {
			return nil, err
		}
		if len(data) != 4+sha256.Size {
			return nil, protocolErr("STAT of file %d answered %d bytes, want %d", i, len(data), 4+sha256.Size)
		}
		size := binary.BigEndian.Uint32(data)
		if size > MaxKeyFileSize {
			return nil, protocolErr("file %d is %d bytes, more than the %d allowed", i, size, MaxKeyFileSize)
		}
		total += int(size)
		if total > MaxKeyFilesTotal {
			return nil, protocolErr("the key's files exceed %d bytes together", MaxKeyFilesTotal)
		}
		stats[i] = stat{size: int(size), sum: bytes.Clone(data[4:])}
	}
	files := make([][]byte, count)
	for i, st := range stats {
		var f []byte
		for attempt := 0; ; attempt++ {
			if f, err = s.readFile(i, st.size); err != nil {
				return nil, err
			}
			sum := sha256.Sum256(f)
			if bytes.Equal(sum[:], st.sum) {
				break
			}
			if attempt == 1 {
				return nil, protocolErr("file %d does not match its SHA-256 after two reads", i)
			}
		}
		files[i] = f
	}
	return files, nil
}

func (s *session) readFile(index, size int) ([]byte, error) {
	f := make([]byte, 0, size)
	for off := 0; off < size; {
		want := min(chunkSize, size-off)
		data, err := s.exchange(cmdRead, byte(index), uint32(off))
		if err != nil {
			return nil, err
		}
		if len(data) != want {
			return nil, protocolErr("READ of file %d at %d answered %d bytes, want %d", index, off, len(data), want)
		}
		f = append(f, data...)
		off += want
	}
	return f, nil
}

// drain discards the input reports queued before the first request.
func (s *session) drain() {
	for range maxDrain {
		if _, err := s.t.Receive(s.buf[:], 0); err != nil {
			return
		}
	}
}

// exchange sends a request and returns the data of its ok answer, with
// the retries of §4.
func (s *session) exchange(cmd, index byte, offset uint32) ([]byte, error) {
	name := commandNames[cmd]
	var last error
	for attempt := 1; attempt <= s.cfg.Attempts; attempt++ {
		if err := s.ctx.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		s.seq++
		if err := s.t.Send(request(cmd, s.seq, index, offset)); err != nil {
			return nil, fmt.Errorf("send %s: %w", name, err)
		}
		status, data, err := s.await(cmd)
		switch {
		case errors.Is(err, ErrReportTimeout):
			last = err
			continue
		case err != nil:
			return nil, fmt.Errorf("%s: %w", name, err)
		case status == statusBusy:
			last = errors.New("the key answered busy")
			select {
			case <-s.ctx.Done():
			case <-time.After(busyPause):
			}
			continue
		case status != statusOK:
			msg, ok := statusNames[status]
			if !ok {
				msg = fmt.Sprintf("unknown status %#02x", status)
			}
			return nil, protocolErr("%s (file %d, offset %d): %s", name, index, offset, msg)
		}
		return data, nil
	}
	return nil, fmt.Errorf("%s: %d attempts failed: %w", name, s.cfg.Attempts, last)
}

// await reads input reports until the answer to request seq of cmd
// arrives, discarding unrelated ones, within the report timeout.
func (s *session) await(cmd byte) (status byte, data []byte, err error) {
	deadline := time.Now().Add(s.cfg.ReportTimeout)
	if d, ok := s.ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	for discarded := 0; ; discarded++ {
		if discarded > maxStale {
			return 0, nil, protocolErr("more than %d unrelated reports while awaiting an answer", maxStale)
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return 0, nil, ErrReportTimeout
		}
		n, err := s.t.Receive(s.buf[:], wait)
		if err != nil {
			return 0, nil, err
		}
		a, ok := parseAnswer(s.buf[:min(n, ReportSize)])
		if !ok || a.cmd != cmd|answerBit || a.seq != s.seq {
			continue
		}
		return a.status, bytes.Clone(a.data), nil
	}
}

// request encodes a request report (§1).
func request(cmd, seq, index byte, offset uint32) []byte {
	r := make([]byte, ReportSize)
	copy(r, magic[:])
	r[2], r[3], r[4], r[5] = protoVersion, cmd, seq, index
	binary.BigEndian.PutUint32(r[6:], offset)
	return r
}

type answer struct {
	cmd, seq, status byte
	data             []byte
}

// parseAnswer decodes an answer report; ok is false for a report that is
// not one (wrong magic or version, a length past its end).
func parseAnswer(p []byte) (answer, bool) {
	if len(p) < headerSize || p[0] != magic[0] || p[1] != magic[1] || p[2] != protoVersion {
		return answer{}, false
	}
	n := int(p[6])
	if n > chunkSize || headerSize+n > len(p) {
		return answer{}, false
	}
	return answer{cmd: p[3], seq: p[4], status: p[5], data: p[headerSize : headerSize+n]}, true
}

func protocolErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, args...)...)
}
