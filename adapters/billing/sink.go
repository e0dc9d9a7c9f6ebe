package billing

import (
	"bufio"
	"bytes"
	"io"
	"os"

	"github.com/licledger/licledger/domain"
)

// FileSink appends events to a file, one per line, fsyncing each before
// WriteEvent returns. Not safe for concurrent use.
type FileSink struct {
	f *os.File
}

// OpenFileSink opens (or creates) path for appending. A last line without
// its newline — a write torn by a crash or a full disk — is cut off first:
// that event was never acknowledged and will be delivered again, so the
// file never holds half an event. It returns how many bytes were cut.
func OpenFileSink(path string) (*FileSink, int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, 0, domain.Errorf(domain.EINVALID, "billing output %s: %v", path, err)
	}
	cut, err := cutTornLine(f)
	if err != nil {
		f.Close()
		return nil, 0, domain.Errorf(domain.EINTERNAL, "billing output %s: repair last line: %v", path, err)
	}
	return &FileSink{f: f}, cut, nil
}

// cutTornLine truncates f after its last newline.
func cutTornLine(f *os.File) (int64, error) {
	info, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := info.Size()
	keep := int64(0)
	const chunk = 64 << 10
	for end := size; end > 0; {
		n := min(int64(chunk), end)
		buf := make([]byte, n)
		if _, err := f.ReadAt(buf, end-n); err != nil && err != io.EOF {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
			keep = end - n + int64(i) + 1
			break
		}
		end -= n
	}
	if keep == size {
		return 0, nil
	}
	if err := f.Truncate(keep); err != nil {
		return 0, err
	}
	return size - keep, f.Sync()
}

// WriteEvent appends raw and a newline in one write, then fsyncs.
func (s *FileSink) WriteEvent(raw []byte) error {
	line := make([]byte, 0, len(raw)+1)
	line = append(append(line, raw...), '\n')
	if _, err := s.f.Write(line); err != nil {
		return err
	}
	return s.f.Sync()
}

// Close closes the file.
func (s *FileSink) Close() error { return s.f.Close() }

// WriterSink writes events to a stream (stdout, a pipe), one per line,
// flushing each before WriteEvent returns: the reader has it before the
// ack. Not safe for concurrent use.
type WriterSink struct {
	w *bufio.Writer
}

// NewWriterSink wraps w.
func NewWriterSink(w io.Writer) *WriterSink { return &WriterSink{w: bufio.NewWriter(w)} }

// WriteEvent writes raw and a newline and flushes.
func (s *WriterSink) WriteEvent(raw []byte) error {
	if _, err := s.w.Write(raw); err != nil {
		return err
	}
	if err := s.w.WriteByte('\n'); err != nil {
		return err
	}
	return s.w.Flush()
}
