package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// progressReporter shows the progress of a long command on stderr: on a
// terminal one line redrawn in place a few times a second; otherwise (a
// log file, CI) a plain line every few seconds, so logs stay readable.
type progressReporter struct {
	w     io.Writer
	tty   bool
	label string
	start time.Time

	mu     sync.Mutex
	last   time.Time
	done   uint64
	total  uint64
	every  time.Duration
	shown  bool   // a line has been printed
	shownN uint64 // the done count it showed
}

func newProgress(w io.Writer, label string) *progressReporter {
	p := &progressReporter{w: w, label: label, start: time.Now(), every: 5 * time.Second}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty, p.every = true, 200*time.Millisecond
		}
	}
	return p
}

// update is a progress callback: done of total log sequences (total 0:
// not known).
func (p *progressReporter) update(done, total uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done, p.total = done, total
	if now := time.Now(); now.Sub(p.last) >= p.every {
		p.last = now
		p.print()
	}
}

func (p *progressReporter) print() {
	pct := 100.0
	if p.total > 0 {
		pct = 100 * float64(p.done) / float64(p.total)
	}
	rate := float64(p.done) / max(time.Since(p.start).Seconds(), 1e-9)
	p.shown, p.shownN = true, p.done
	line := fmt.Sprintf("%s: %d/%d events (%.1f%%, %.0f events/s)", p.label, p.done, p.total, pct, rate)
	if p.total == 0 { // the total is not known (an import)
		line = fmt.Sprintf("%s: %d events (%.0f events/s)", p.label, p.done, rate)
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
}

// finish prints the final state and ends the redrawn line.
func (p *progressReporter) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown && p.shownN == p.done {
		if p.tty {
			fmt.Fprintln(p.w)
		}
		return
	}
	if p.total == 0 && p.done == 0 {
		return
	}
	p.print()
	if p.tty {
		fmt.Fprintln(p.w)
	}
}
