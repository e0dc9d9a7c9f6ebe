package domain

import (
	"cmp"
	"slices"
)

// slotCount is the number of precedence slots: the Base, then one per
// Plus module in catalog order.
const slotCount = moduleCount + 1

func (r *licenseRecord) slot() int { return r.module + 1 }

// holder is what one source holds: the request-code licenses, or one USB
// key's (carried and uploaded bound to it).
//
// slots indexes the holder's licenses by precedence slot in the order they
// were brought (R13). Evaluation and the buffer rules only need each
// holder's latest live license per slot, so they cost O(holders × slots)
// however long the history. A record is dead once replaced (the same id
// brought again later) or gone with its key's old contents; deleted ones
// (R14) take no part either. Invariant: the last entry of every slot is
// live; dead entries behind it stay until they reach the end, so every
// change costs amortized O(1).
type holder struct {
	licenses map[string]*licenseRecord // by id, deleted ones included
	slots    [slotCount][]*licenseRecord
}

func (h *holder) put(r *licenseRecord) {
	if h.licenses == nil {
		h.licenses = make(map[string]*licenseRecord)
	}
	if old := h.licenses[r.id]; old != nil {
		old.dead = true
		h.trim(old.slot())
	}
	h.licenses[r.id] = r
	h.slots[r.slot()] = append(h.slots[r.slot()], r)
}

// top returns the holder's latest live license in a slot, or nil.
func (h *holder) top(slot int) *licenseRecord {
	if list := h.slots[slot]; len(list) > 0 {
		return list[len(list)-1]
	}
	return nil
}

// trim pops the entries at the end of a slot that take no part.
func (h *holder) trim(slot int) {
	list := h.slots[slot]
	for len(list) > 0 && (list[len(list)-1].dead || list[len(list)-1].deleted) {
		list[len(list)-1] = nil
		list = list[:len(list)-1]
	}
	h.slots[slot] = list
}

// clone deep-copies the holder, dropping entries that take no part.
func (h *holder) clone() holder {
	var c holder
	if h.licenses == nil {
		return c
	}
	c.licenses = make(map[string]*licenseRecord, len(h.licenses))
	for id, r := range h.licenses {
		cp := *r
		c.licenses[id] = &cp
	}
	for i, list := range h.slots {
		for _, r := range list {
			if !r.dead && !r.deleted {
				c.slots[i] = append(c.slots[i], c.licenses[r.id])
			}
		}
	}
	return c
}

// holderOf returns the holder of a source for changes: "" is request
// code, anything else a key (created if new).
func (s *PlatformState) holderOf(keyID string) *holder {
	if keyID == "" {
		return &s.rc
	}
	return &s.key(keyID).holder
}

// lookupHolder is holderOf for readers: nil for a key never seen.
func (s *PlatformState) lookupHolder(keyID string) *holder {
	if keyID == "" {
		return &s.rc
	}
	if kr := s.keys[keyID]; kr != nil {
		return &kr.holder
	}
	return nil
}

// recordsOf returns the records of a license id across holders, earliest
// brought first.
func (s *PlatformState) recordsOf(id string) []*licenseRecord {
	var out []*licenseRecord
	if r := s.rc.licenses[id]; r != nil {
		out = append(out, r)
	}
	for _, kr := range s.keys {
		if r := kr.licenses[id]; r != nil {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *licenseRecord) int { return cmp.Compare(a.pos, b.pos) })
	return out
}
