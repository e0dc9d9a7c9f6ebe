-- 0002: precedence (R13, R14) is recomputed over the live licenses of a
-- slot only; a partial index keeps deleted ones out of the scan. The
-- licenses projection changed meaning with it (superseded_by now names the
-- slot's current license) and was renamed "licenses-2", so the runtime
-- rebuilds it from the log.
DROP INDEX licenses_by_slot;
CREATE INDEX licenses_live_by_slot ON licenses (platform, slot, arrived_seq) WHERE deleted_event IS NULL;
