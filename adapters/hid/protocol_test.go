package hid_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/adapters/hid"
	"github.com/licledger/licledger/adapters/hid/hidtest"
)

var k1 = hid.Device{Path: "/dev/hidraw7", VendorID: 0x096e, ProductID: 0x0006, Serial: "K-1"}

// file returns n bytes of a recognisable pattern, distinct per seed.
func file(seed byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i%251)
	}
	return b
}

func newReader(d *hidtest.Dongle) *hid.ReportReader {
	return hid.NewReportReader(d.Open, hid.ReportConfig{ReportTimeout: 50 * time.Millisecond})
}

func sameFiles(t *testing.T, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("read %d files, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("file %d: read %d bytes %.16x…, want %d bytes %.16x…", i, len(got[i]), got[i], len(want[i]), want[i])
		}
	}
}

// PROTOCOL.md §5: every file whole, at the chunk boundaries and the limits.
func TestReportReaderReadsFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files [][]byte
	}{
		{"no files", nil},
		{"one small file", [][]byte{[]byte(`{"format":"licledger-license/1"}`)}},
		{"an empty file", [][]byte{{}}},
		{"exactly one chunk", [][]byte{file(1, 57)}},
		{"one byte over a chunk", [][]byte{file(2, 58)}},
		{"several files", [][]byte{file(3, 500), file(4, 1), file(5, 1200)}},
		{"the largest file", [][]byte{file(6, hid.MaxKeyFileSize)}},
		{"the most files", func() [][]byte {
			fs := make([][]byte, hid.MaxKeyFiles)
			for i := range fs {
				fs[i] = file(byte(i), 40+i)
			}
			return fs
		}()},
		{"the most bytes", [][]byte{file(7, hid.MaxKeyFileSize), file(8, hid.MaxKeyFileSize), file(9, hid.MaxKeyFileSize), file(10, hid.MaxKeyFileSize)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := hidtest.NewDongle(tt.files...)
			got, err := newReader(d).ReadFiles(context.Background(), k1)
			if err != nil {
				t.Fatal(err)
			}
			sameFiles(t, got, tt.files)
			if opened, closed := d.Opens(); opened != 1 || closed != 1 {
				t.Errorf("opened %d, closed %d times; want once each", opened, closed)
			}
		})
	}
}

// tamperOnce applies f to the n-th request's answer (from 1) only.
func tamperOnce(n int, f func(req, ans []byte) [][]byte) func(req, ans []byte) [][]byte {
	seen := 0
	return func(req, ans []byte) [][]byte {
		seen++
		if seen == n {
			return f(req, ans)
		}
		return [][]byte{ans}
	}
}

// PROTOCOL.md §4, §5: lost and late answers, busy, noise, stale reports
// and a corrupted chunk are survived by retries and the checksum.
func TestReportReaderRecovers(t *testing.T) {
	t.Parallel()
	files := [][]byte{file(1, 130), file(2, 20)}
	lost := func(req, ans []byte) [][]byte { return nil }
	busy := func(req, ans []byte) [][]byte {
		return [][]byte{hidtest.Answer(req[3], req[4], hidtest.StatusBusy, nil)}
	}
	tests := []struct {
		name  string
		setup func(d *hidtest.Dongle)
		sends int // requests the read takes; 0: do not check
	}{
		{"no fault", func(d *hidtest.Dongle) {}, 7},
		{"the COUNT answer is lost once", func(d *hidtest.Dongle) { d.Tamper(tamperOnce(1, lost)) }, 8},
		{"a READ answer is lost twice", func(d *hidtest.Dongle) {
			n := 0
			d.Tamper(func(req, ans []byte) [][]byte {
				if req[3] == 0x03 && n < 2 {
					n++
					return nil
				}
				return [][]byte{ans}
			})
		}, 9},
		{"busy twice", func(d *hidtest.Dongle) {
			n := 0
			d.Tamper(func(req, ans []byte) [][]byte {
				if n < 2 {
					n++
					return busy(req, ans)
				}
				return [][]byte{ans}
			})
		}, 9},
		{"reports queued before the read are drained", func(d *hidtest.Dongle) {
			d.Queue(hidtest.Answer(0x01, 1, hidtest.StatusOK, []byte{9}), hidtest.Answer(0x02, 2, hidtest.StatusOK, make([]byte, 36)))
		}, 7},
		{"noise and a late answer to an earlier request are discarded", func(d *hidtest.Dongle) {
			var prev []byte
			d.Tamper(func(req, ans []byte) [][]byte {
				out := [][]byte{[]byte("garbage"), make([]byte, 64)}
				if prev != nil {
					out = append(out, prev)
				}
				prev = ans
				return append(out, ans)
			})
		}, 7},
		{"an answer with another sequence number", func(d *hidtest.Dongle) {
			d.Tamper(tamperOnce(2, func(req, ans []byte) [][]byte {
				wrong := bytes.Clone(ans)
				wrong[4]++
				return [][]byte{wrong}
			}))
		}, 8},
		{"a corrupted chunk fails the checksum once: the file is read again", func(d *hidtest.Dongle) {
			d.Tamper(tamperOnce(5, func(req, ans []byte) [][]byte {
				bad := bytes.Clone(ans)
				bad[10] ^= 0xff
				return [][]byte{bad}
			}))
		}, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := hidtest.NewDongle(files...)
			tt.setup(d)
			got, err := newReader(d).ReadFiles(context.Background(), k1)
			if err != nil {
				t.Fatal(err)
			}
			sameFiles(t, got, files)
			if n := len(d.Requests()); tt.sends != 0 && n != tt.sends {
				t.Errorf("the read took %d requests, want %d", n, tt.sends)
			}
		})
	}
}

// PROTOCOL.md §3–§5: what fails a read. Nothing is returned but the error;
// the transport is closed whenever it was opened.
func TestReportReaderFails(t *testing.T) {
	t.Parallel()
	files := [][]byte{file(1, 130), file(2, 20)}
	unplugged := errors.New("device disconnected")
	answer := func(f func(req, ans []byte) []byte) func(req, ans []byte) [][]byte {
		return func(req, ans []byte) [][]byte { return [][]byte{f(req, ans)} }
	}
	status := func(cmd, st byte) func(req, ans []byte) [][]byte {
		return answer(func(req, ans []byte) []byte {
			if req[3] == cmd {
				return hidtest.Answer(req[3], req[4], st, nil)
			}
			return ans
		})
	}
	tests := []struct {
		name  string
		files [][]byte
		setup func(d *hidtest.Dongle)
		want  error  // errors.Is
		words string // the message mentions
	}{
		{"no answer at all", files, func(d *hidtest.Dongle) { d.Tamper(func(req, ans []byte) [][]byte { return nil }) },
			hid.ErrReportTimeout, "COUNT: 3 attempts failed"},
		{"busy for ever", files, func(d *hidtest.Dongle) { d.Tamper(status(0x02, hidtest.StatusBusy)) }, nil, "STAT: 3 attempts failed: the key answered busy"},
		{"storage failure", files, func(d *hidtest.Dongle) { d.Tamper(status(0x03, hidtest.StatusStorage)) }, hid.ErrProtocol, "storage failure"},
		{"unknown status", files, func(d *hidtest.Dongle) { d.Tamper(status(0x01, 0x77)) }, hid.ErrProtocol, "unknown status 0x77"},
		{"more files than allowed", files, func(d *hidtest.Dongle) {
			d.Tamper(answer(func(req, ans []byte) []byte {
				if req[3] == 0x01 {
					return hidtest.Answer(0x01, req[4], hidtest.StatusOK, []byte{hid.MaxKeyFiles + 1})
				}
				return ans
			}))
		}, hid.ErrProtocol, "65 files"},
		{"a file over the size limit", [][]byte{file(1, hid.MaxKeyFileSize+1)}, nil, hid.ErrProtocol, "65537 bytes"},
		{"files over the total limit", [][]byte{file(1, hid.MaxKeyFileSize), file(2, hid.MaxKeyFileSize), file(3, hid.MaxKeyFileSize),
			file(4, hid.MaxKeyFileSize), file(5, 1)}, nil, hid.ErrProtocol, "together"},
		{"a short chunk", files, func(d *hidtest.Dongle) {
			d.Tamper(answer(func(req, ans []byte) []byte {
				if req[3] == 0x03 {
					return hidtest.Answer(0x03, req[4], hidtest.StatusOK, ans[7:7+10])
				}
				return ans
			}))
		}, hid.ErrProtocol, "answered 10 bytes, want 57"},
		{"a COUNT of the wrong size", files, func(d *hidtest.Dongle) {
			d.Tamper(answer(func(req, ans []byte) []byte { return hidtest.Answer(req[3], req[4], hidtest.StatusOK, []byte{1, 2}) }))
		}, hid.ErrProtocol, "COUNT answered 2 bytes"},
		{"a checksum that never matches", files, func(d *hidtest.Dongle) {
			d.Tamper(answer(func(req, ans []byte) []byte {
				if req[3] == 0x02 {
					ans[7+4] ^= 0xff
				}
				return ans
			}))
		}, hid.ErrProtocol, "SHA-256 after two reads"},
		{"a flood of unrelated reports", files, func(d *hidtest.Dongle) {
			d.Tamper(func(req, ans []byte) [][]byte {
				out := make([][]byte, 20)
				for i := range out {
					out[i] = hidtest.Answer(req[3], req[4]+1, hidtest.StatusOK, nil)
				}
				return out
			})
		}, hid.ErrProtocol, "unrelated reports"},
		{"pulled mid-read", files, func(d *hidtest.Dongle) { d.FailSend(unplugged) }, unplugged, "send COUNT"},
		{"cannot be opened", files, func(d *hidtest.Dongle) { d.FailOpen(unplugged) }, unplugged, "open /dev/hidraw7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := hidtest.NewDongle(tt.files...)
			if tt.setup != nil {
				tt.setup(d)
			}
			got, err := newReader(d).ReadFiles(context.Background(), k1)
			if err == nil || got != nil {
				t.Fatalf("read %d files, err %v; want an error and nothing", len(got), err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.words) || !strings.Contains(err.Error(), "/dev/hidraw7") {
				t.Errorf("err = %q, want it to name the device and say %q", err, tt.words)
			}
			if opened, closed := d.Opens(); opened != closed {
				t.Errorf("opened %d, closed %d times", opened, closed)
			}
		})
	}
}

// A cancelled read stops between exchanges and says so.
func TestReportReaderCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	d := hidtest.NewDongle(file(1, 1000))
	d.Tamper(tamperOnce(3, func(req, ans []byte) [][]byte {
		cancel()
		return [][]byte{ans}
	}))
	_, err := newReader(d).ReadFiles(ctx, k1)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := len(d.Requests()); n != 3 {
		t.Errorf("%d requests after the cancellation at the 3rd, want 3", n)
	}
}

// A transport whose reports take real time: the report timeout is a real
// deadline, and the read timeout bounds a whole key.
type slowTransport struct{ delay time.Duration }

func (s slowTransport) Send([]byte) error { return nil }
func (s slowTransport) Receive(p []byte, timeout time.Duration) (int, error) {
	if timeout < s.delay {
		time.Sleep(timeout)
		return 0, hid.ErrReportTimeout
	}
	time.Sleep(s.delay)
	return 0, hid.ErrReportTimeout
}
func (s slowTransport) Close() error { return nil }

func TestReportReaderTimeouts(t *testing.T) {
	t.Parallel()
	open := func(context.Context, hid.Device) (hid.Transport, error) { return slowTransport{delay: time.Hour}, nil }
	tests := []struct {
		name    string
		cfg     hid.ReportConfig
		want    error
		atLeast time.Duration
		atMost  time.Duration
	}{
		{"three attempts of one report timeout each", hid.ReportConfig{ReportTimeout: 20 * time.Millisecond}, hid.ErrReportTimeout, 60 * time.Millisecond, 5 * time.Second},
		{"the read timeout cuts them short", hid.ReportConfig{ReportTimeout: time.Second, ReadTimeout: 30 * time.Millisecond}, nil, 30 * time.Millisecond, 900 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			_, err := hid.NewReportReader(open, tt.cfg).ReadFiles(context.Background(), k1)
			took := time.Since(start)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if took < tt.atLeast || took > tt.atMost {
				t.Errorf("took %s, want %s to %s (%v)", took, tt.atLeast, tt.atMost, err)
			}
		})
	}
}

// The test vectors of PROTOCOL.md §6, checked against the reader's
// requests and the fake dongle's answers, and present in the page.
func TestProtocolVectors(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	report := func(line string) []byte {
		t.Helper()
		if !strings.Contains(string(doc), line+"\n") {
			t.Fatalf("PROTOCOL.md lacks the vector line %q", line)
		}
		_, hexs, _ := strings.Cut(line, "  ")
		b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(hexs), " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		return append(b, make([]byte, 64-len(b))...)
	}
	// capture records what the dongle received and answered, by sequence.
	type exchange struct{ req, ans []byte }
	capture := func(d *hidtest.Dongle, change func(req, ans []byte) []byte) map[byte]exchange {
		got := map[byte]exchange{}
		d.Tamper(func(req, ans []byte) [][]byte {
			if change != nil {
				ans = change(req, ans)
			}
			got[req[4]] = exchange{req, ans}
			return [][]byte{ans}
		})
		return got
	}
	read := func(d *hidtest.Dongle) {
		t.Helper()
		if _, err := newReader(d).ReadFiles(context.Background(), k1); err != nil {
			t.Fatal(err)
		}
	}

	d := hidtest.NewDongle([]byte("abc"), []byte("x"))
	got := capture(d, nil)
	read(d)
	if want := report("request  4c 46 01 01 01 00 00 00 00 00"); !bytes.Equal(got[1].req, want) {
		t.Errorf("COUNT request %x, want %x", got[1].req, want)
	}
	if want := report("answer   4c 46 01 81 01 00 01 02"); !bytes.Equal(got[1].ans, want) {
		t.Errorf("COUNT answer %x, want %x", got[1].ans, want)
	}
	if want := report("answer   4c 46 01 82 02 00 24 00 00 00 03 ba 78 16 bf 8f 01 cf ea 41 41 40 de 5d ae 22 23 b0 03 61 a3 96 17 7a 9c b4 10 ff 61 f2 00 15 ad"); !bytes.Equal(got[2].ans, want) {
		t.Errorf("STAT answer %x, want %x", got[2].ans, want)
	}

	// Sequence 0x2a falls on READ of file 1 at 57 when file 0 takes 37
	// chunks: COUNT, 2 STATs, 37 READs, READ of file 1 at 0, then it.
	d = hidtest.NewDongle(file(1, 37*57), file(2, 100))
	busyOnce := false
	got = capture(d, func(req, ans []byte) []byte {
		if req[4] == 0x2a && !busyOnce {
			busyOnce = true
			return hidtest.Answer(req[3], req[4], hidtest.StatusBusy, nil)
		}
		return ans
	})
	read(d)
	if want := report("request  4c 46 01 03 2a 01 00 00 00 39"); !bytes.Equal(got[0x2a].req, want) {
		t.Errorf("READ request %x, want %x", got[0x2a].req, want)
	}
	if want := report("answer   4c 46 01 83 2a 04 00"); !bytes.Equal(got[0x2a].ans, want) {
		t.Errorf("busy answer %x, want %x", got[0x2a].ans, want)
	}
	if !busyOnce {
		t.Error("the read never sent sequence 0x2a")
	}
}
