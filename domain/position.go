package domain

import "time"

// LogPosition is where in the log a view stands: the instant it answers
// for and the stream sequence of the last event it includes (0: none).
// A view asked again at the same position folds exactly the same events
// at the same instant, so it answers the same bytes, whatever was
// appended since (R32). Time is written with its full precision.
type LogPosition struct {
	Time time.Time `json:"time"`
	Seq  uint64    `json:"seq"`
}

// Position is a LogPosition to set on a view document.
func Position(at time.Time, seq uint64) *LogPosition {
	return &LogPosition{Time: at.UTC(), Seq: seq}
}
