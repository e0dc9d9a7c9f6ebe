package domain

import "time"

// ParseCanonicalTime parses, without the general parser, the one time
// layout the ledger writes: RFC 3339 in UTC, "2006-01-02T15:04:05Z" with
// an optional fraction of 1 to 9 digits, years 0000 to 9999. ok is false
// for anything else (an offset, a leap second, a field out of range),
// which the caller then hands to time.Parse or time.Time.UnmarshalJSON;
// where ok is true the instant is the one those would give (fuzzed against
// both in domain and eventstore).
//
// Why: the fold and the log reader parse a time per event, and the general
// parser was a visible share of a rebuild.
func ParseCanonicalTime[T ~string | ~[]byte](s T) (t time.Time, ok bool) {
	n := len(s)
	if n < 20 || n > 30 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[n-1] != 'Z' {
		return time.Time{}, false
	}
	num := func(from, to int) int {
		v := 0
		for i := from; i < to; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day := num(0, 4), num(5, 7), num(8, 10)
	hour, minute, sec := num(11, 13), num(14, 16), num(17, 19)
	if year < 0 || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return time.Time{}, false
	}
	nsec := 0
	if n > 20 {
		digits := n - 21
		if s[19] != '.' || digits < 1 || digits > 9 {
			return time.Time{}, false
		}
		if nsec = num(20, n-1); nsec < 0 {
			return time.Time{}, false
		}
		for range 9 - digits {
			nsec *= 10
		}
	}
	// Days from the civil date (Howard Hinnant's algorithm): cheaper than
	// time.Date's normalization, which these checked fields do not need.
	y := year
	if month <= 2 {
		y--
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (month + 9) % 12
	doy := (153*mp+2)/5 + day - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	days := era*146097 + doe - 719468
	return time.Unix(int64(days)*86400+int64(hour*3600+minute*60+sec), int64(nsec)).UTC(), true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
