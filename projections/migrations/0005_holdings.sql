-- 0005: the holdings projection: one row per platform, subscription,
-- perpetual license and coupon, from the event that created it, with the
-- customer that holds it (the partner for a coupon). The list endpoints
-- page through it and customer-scoped views filter on it. A new
-- projection has no checkpoint, so an existing database fills it from the
-- start of the log on its next start.
CREATE TABLE holdings (
	kind       TEXT NOT NULL,
	id         TEXT NOT NULL,
	customer   TEXT NOT NULL,
	seq        INTEGER NOT NULL,
	created_at TEXT NOT NULL,
	PRIMARY KEY (kind, id)
) WITHOUT ROWID;
CREATE INDEX holdings_by_customer ON holdings (customer, kind, id);
