package httpapi

import (
	"context"
	"sync"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/projections"
	"github.com/prometheus/client_golang/prometheus"
)

// What an operator watches besides requests: how far the projections are
// behind the log (in events and in seconds), whether this process is
// connected to JetStream and the stream has a leader with current
// followers, and the business the ledger records (platforms by status,
// buffers running, seats in use, subscriptions by status). The business
// figures fold every platform and subscription, so they are computed at
// most once per businessTTL and served from that cache in between,
// whatever the scrape interval; the rest is one stream-info request and,
// while the projections lag, one read of the oldest unapplied event.

// businessTTL is how long the business gauges are served from their
// cache (on the ledger clock).
const businessTTL = 30 * time.Second

// scrapeTimeout bounds what one scrape asks of JetStream; businessTimeout
// one computation of the business gauges (under Prometheus's default
// scrape timeout of 10s).
const (
	scrapeTimeout   = 2 * time.Second
	businessTimeout = 8 * time.Second
)

var (
	descLagSeconds = prometheus.NewDesc("licledger_projection_lag_seconds",
		"Age (ledger clock) of the oldest event in the log the projections have not applied; 0 when caught up.", nil, nil)
	descConnected = prometheus.NewDesc("licledger_nats_connected",
		"1 while this process is connected to NATS, else 0.", nil, nil)
	descConnState = prometheus.NewDesc("licledger_nats_connection_state",
		"The NATS connection's state (CONNECTED, RECONNECTING, ...): 1 for the current one.", []string{"state"}, nil)
	descHasLeader = prometheus.NewDesc("licledger_stream_has_leader",
		"1 when the ledger stream has a leader that answered, else 0 (no writes succeed without one).", nil, nil)
	descLeader = prometheus.NewDesc("licledger_stream_leader",
		"The server leading the ledger stream: 1 on its name.", []string{"leader"}, nil)
	descReplicaCurrent = prometheus.NewDesc("licledger_stream_replica_current",
		"1 when a follower of the ledger stream has every message of the leader, 0 when behind or offline.", []string{"replica"}, nil)
	descReplicaLag = prometheus.NewDesc("licledger_stream_replica_lag_events",
		"Messages a follower of the ledger stream is behind its leader.", []string{"replica"}, nil)
	descPlatforms = prometheus.NewDesc("licledger_platforms",
		"Platforms by entitlement status now (licensed, grace, expired, community, unlicensed).", []string{"status"}, nil)
	descBuffers = prometheus.NewDesc("licledger_buffers_running",
		"Platforms entitled through a running USB-key buffer license now (R19, R20).", nil, nil)
	descBufferEnd = prometheus.NewDesc("licledger_buffer_earliest_end_timestamp_seconds",
		"When the first running buffer ends (Unix seconds); absent while none runs.", nil, nil)
	descSeats = prometheus.NewDesc("licledger_seats_in_use",
		"Instance seats held now, by license kind (subscription, perpetual).", []string{"kind"}, nil)
	descSubscriptions = prometheus.NewDesc("licledger_subscriptions",
		"Subscriptions by status now (active, past_due, expired, canceled).", []string{"status"}, nil)
	descBusinessAge = prometheus.NewDesc("licledger_business_gauges_age_seconds",
		"How old the cached business gauges are (ledger clock).", nil, nil)
)

// opsCollector computes the operator gauges at scrape time.
type opsCollector struct {
	s *Server

	mu       sync.Mutex
	business *businessGauges // nil until first computed
}

// businessGauges are the business figures at one instant.
type businessGauges struct {
	at            time.Time
	platforms     map[string]int
	buffers       int
	bufferEnd     time.Time // zero: none running
	seats         map[string]int
	subscriptions map[string]int
}

func newOpsCollector(s *Server) *opsCollector { return &opsCollector{s: s} }

func (c *opsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLagSeconds, descConnected, descConnState, descHasLeader, descLeader,
		descReplicaCurrent, descReplicaLag, descPlatforms, descBuffers, descBufferEnd, descSeats, descSubscriptions, descBusinessAge} {
		ch <- d
	}
}

func (c *opsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	now := c.s.cfg.Now()
	if lag, err := c.lagSeconds(ctx, now); err == nil {
		gauge(descLagSeconds, lag)
	} else {
		c.s.log.Debug("metrics: projection lag unknown", "err", err)
	}

	st, err := c.s.cfg.Store.StreamState(ctx)
	gauge(descConnected, boolGauge(st.Connected))
	gauge(descConnState, 1, st.Connection)
	gauge(descHasLeader, boolGauge(err == nil && (st.Leader != "" || len(st.Replicas) == 0)))
	if st.Leader != "" {
		gauge(descLeader, 1, st.Leader)
	}
	for _, r := range st.Replicas {
		gauge(descReplicaCurrent, boolGauge(r.Current && !r.Offline), r.Name)
		gauge(descReplicaLag, float64(r.Lag), r.Name)
	}

	b, _ := c.businessAt(now) // logged there; stale figures are served with their age
	if b == nil {
		return
	}
	for status, n := range b.platforms {
		gauge(descPlatforms, float64(n), status)
	}
	gauge(descBuffers, float64(b.buffers))
	if !b.bufferEnd.IsZero() {
		gauge(descBufferEnd, float64(b.bufferEnd.Unix()))
	}
	for kind, n := range b.seats {
		gauge(descSeats, float64(n), kind)
	}
	for status, n := range b.subscriptions {
		gauge(descSubscriptions, float64(n), status)
	}
	gauge(descBusinessAge, now.Sub(b.at).Seconds())
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// lagSeconds is the age of the first event the projections have not
// applied, 0 when they have applied the whole log.
func (c *opsCollector) lagSeconds(ctx context.Context, now time.Time) (float64, error) {
	st, err := c.s.cfg.Runner.Status(ctx)
	if err != nil {
		return 0, err
	}
	if st.CaughtUp {
		return 0, nil
	}
	for rec, err := range c.s.cfg.Store.Read(ctx, st.Applied+1, eventstore.UntilSeq(st.Applied+1)) {
		if err != nil {
			return 0, err
		}
		return max(0, now.Sub(rec.Event.Time).Seconds()), nil
	}
	return 0, nil
}

// businessAt returns the business gauges, computed anew when the cached
// ones are older than businessTTL. Concurrent scrapes wait for one
// computation rather than each starting their own. When a computation
// fails, the last figures are served with the error (their age gauge
// tells how old they are); nil before any succeeded.
func (c *opsCollector) businessAt(now time.Time) (*businessGauges, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b := c.business; b != nil && now.Sub(b.at) < businessTTL && !now.Before(b.at) {
		return b, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), businessTimeout)
	defer cancel()
	b, err := c.computeBusiness(ctx, now)
	if err != nil {
		c.s.log.Warn("metrics: business gauges not computed; serving the last ones", "err", err)
		return c.business, err
	}
	c.business = b
	return b, nil
}

func (c *opsCollector) computeBusiness(ctx context.Context, now time.Time) (*businessGauges, error) {
	b := &businessGauges{at: now, platforms: map[string]int{}, seats: map[string]int{}, subscriptions: map[string]int{}}
	// Every status is exported, at 0 when no platform has it, so a panel
	// shows a line that drops to zero rather than one that vanishes.
	for _, st := range []string{domain.StatusLicensed, domain.StatusGrace, domain.StatusExpired, domain.StatusCommunity, domain.StatusUnlicensed} {
		b.platforms[st] = 0
	}
	for _, st := range []string{domain.SubscriptionStatusActive, domain.SubscriptionStatusPastDue, domain.SubscriptionStatusExpired, domain.SubscriptionStatusCanceled} {
		b.subscriptions[st] = 0
	}
	b.seats[domain.KindSubscription], b.seats[domain.KindPerpetual] = 0, 0
	q := c.s.cfg.Queries
	err := eachHolding(ctx, q.DB(), domain.KindPlatform, func(id string) error {
		ent, err := q.EntitlementDoc(ctx, id, now)
		if err != nil {
			return err
		}
		b.platforms[ent.Status]++
		if ent.USBKey.Buffer == domain.BufferActive {
			b.buffers++
			if end := ent.USBKey.BufferExpiresAt; end != nil && (b.bufferEnd.IsZero() || end.Before(b.bufferEnd)) {
				b.bufferEnd = *end
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = eachHolding(ctx, q.DB(), domain.KindSubscription, func(id string) error {
		st, err := c.s.cmds.Subscriptions.Current(ctx, id)
		if err != nil {
			return err
		}
		b.subscriptions[st.Status(now)]++
		b.seats[domain.KindSubscription] += st.Instances.HeldCount(now, st.Lease)
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = eachHolding(ctx, q.DB(), domain.KindPerpetual, func(id string) error {
		st, err := c.s.cmds.Perpetuals.Current(ctx, id)
		if err != nil {
			return err
		}
		b.seats[domain.KindPerpetual] += st.Instances.HeldCount(now, st.Lease)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// eachHolding calls f with the id of every aggregate of kind the holdings
// projection lists, a page at a time.
func eachHolding(ctx context.Context, db *projections.DB, kind string, f func(id string) error) error {
	after := ""
	for {
		page, err := db.Holdings(ctx, kind, "", after, projections.MaxHoldingsPage)
		if err != nil {
			return err
		}
		for _, h := range page {
			if err := f(h.ID); err != nil {
				return err
			}
		}
		if len(page) < projections.MaxHoldingsPage {
			return nil
		}
		after = page[len(page)-1].ID
	}
}
