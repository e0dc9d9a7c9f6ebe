package domain

// Provenance: every item of an entitlement names the events that decided
// it (their ids; the stream sequences are the store's, filled in by the
// reader that folded them, SetSeqs).

// EventRef names an event that decided an answer.
type EventRef struct {
	ID  string `json:"id"`
	Seq uint64 `json:"seq,omitempty"`
}

// refs names the events with these ids, skipping empty and repeated ones.
func refs(ids ...string) []EventRef {
	var out []EventRef
	for _, id := range ids {
		if id == "" {
			continue
		}
		dup := false
		for _, r := range out {
			dup = dup || r.ID == id
		}
		if !dup {
			out = append(out, EventRef{ID: id})
		}
	}
	return out
}

// pullRefs names, for a key that does not authorize now, its latest pull
// and the pull that decided its buffer; nothing for a request-code
// license ("") or a key that authorizes.
func (s *PlatformState) pullRefs(keyID string) []string {
	kr := s.keys[keyID]
	if keyID == "" || kr == nil || keyID == s.authKey || kr.pulls == 0 {
		return nil
	}
	return []string{kr.pullEvent, kr.bufferEvent}
}

// decidedBy names the license record's event and, when it comes from a
// key that does not authorize, the pulls that decided its availability.
func (s *PlatformState) decidedBy(r licenseRecord) []EventRef {
	return refs(append([]string{r.event}, s.pullRefs(r.keyID)...)...)
}

// EventIDs lists the events an entitlement names, in document order.
func (e *Entitlement) EventIDs() []string {
	var out []string
	e.eachRef(func(r *EventRef) { out = append(out, r.ID) })
	return out
}

// SetSeqs fills in the stream sequence of every event the entitlement
// names, from seqs by event id.
func (e *Entitlement) SetSeqs(seqs map[string]uint64) {
	e.eachRef(func(r *EventRef) { r.Seq = seqs[r.ID] })
}

func (e *Entitlement) eachRef(f func(*EventRef)) {
	each := func(rs []EventRef) {
		for i := range rs {
			f(&rs[i])
		}
	}
	if e.Base != nil {
		each(e.Base.DecidedBy)
	}
	for _, info := range catalog {
		if m, ok := e.Modules[info.Name]; ok {
			each(m.DecidedBy) // the slice is shared with the map's copy
		}
	}
	each(e.Capacity.DecidedBy)
	each(e.USBKey.DecidedBy)
}

func eventIDs(rs []EventRef) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}
