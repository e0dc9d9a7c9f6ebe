package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus metrics, in a registry of its own
// (not the global one), so several servers in one process (tests) do not
// collide.
type metrics struct {
	reg            *prometheus.Registry
	appendLatency  *prometheus.HistogramVec
	eventsAppended *prometheus.CounterVec
	requests       *prometheus.CounterVec
	requestLatency *prometheus.HistogramVec
}

func newMetrics(lag func(ctx context.Context) (float64, error)) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		appendLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "licledger_append_duration_seconds",
			Help:    "Time to execute a command against the event store (load, decide, append with optimistic concurrency), by command.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"command"}),
		eventsAppended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "licledger_events_appended_total",
			Help: "Events this process appended to the ledger (API commands, the USB key watcher), by event type.",
		}, []string{"type"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "licledger_http_requests_total",
			Help: "HTTP requests by route pattern, status code and reason (a word of the catalogue of refusals; empty for a success).",
		}, []string{"route", "code", "reason"}),
		requestLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "licledger_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"route"}),
	}
	lagGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "licledger_projection_lag_events",
		Help: "Events in the log not yet applied by every projection (-1 when the log cannot be read).",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		v, err := lag(ctx)
		if err != nil {
			return -1
		}
		return v
	})
	m.reg.MustRegister(m.appendLatency, m.eventsAppended, m.requests, m.requestLatency, lagGauge,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// observe records one finished request under its route pattern (never the
// raw path, whose ids would make the label set unbounded) and the reason
// of an error answer (bounded too: the catalogue's words, or "").
func (m *metrics) observe(route string, status int, reason string, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status), reason).Inc()
	m.requestLatency.WithLabelValues(route).Observe(d.Seconds())
}
