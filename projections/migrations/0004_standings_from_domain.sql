-- 0004: where a license stands in precedence (R13) is no longer stored.
-- The stored supersession followed log position alone, so it called a
-- request-code license superseded while the entitlement used it, after a
-- key's buffer was voided by another key (R21) or ran out (R19, R20): the
-- standing depends on the instant and on the key rules, which the domain
-- alone decides. DB.Licenses now asks domain.LicenseStandings at query
-- time, from the same precedence the entitlement uses. The other columns
-- keep their meaning, so the projection needs no rebuild.
DROP INDEX licenses_live_by_slot;
ALTER TABLE licenses DROP COLUMN superseded_by;
ALTER TABLE licenses DROP COLUMN superseded_event;
ALTER TABLE licenses DROP COLUMN superseded_at;
