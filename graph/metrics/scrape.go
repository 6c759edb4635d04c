package metrics

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aiproxy/aiproxy"
)

var (
	breakerDesc = prometheus.NewDesc("aiproxy_channel_breaker_state",
		"Circuit breakers by channel and state (closed, open, half_open): the number of the channel's models in that state.", []string{"channel", "state"}, nil)
	queuedDesc      = prometheus.NewDesc("aiproxy_log_queue_depth", "Logs waiting in the log writer's queue.", nil, nil)
	queueBytesDesc  = prometheus.NewDesc("aiproxy_log_queue_bytes", "Estimated size of the queued logs.", nil, nil)
	writtenDesc     = prometheus.NewDesc("aiproxy_logs_written_total", "Logs stored, replayed ones included.", nil, nil)
	failedDesc      = prometheus.NewDesc("aiproxy_logs_failed_total", "Logs the database refused, or given up on without a spill directory.", nil, nil)
	spilledDesc     = prometheus.NewDesc("aiproxy_logs_spilled_total", "Logs set aside in the spill directory.", nil, nil)
	replayedDesc    = prometheus.NewDesc("aiproxy_logs_replayed_total", "Spilled logs stored since.", nil, nil)
	droppedDesc     = prometheus.NewDesc("aiproxy_logs_dropped_total", "Logs lost: no room in the queue and no spill file could take them.", nil, nil)
	databaseUpDesc  = prometheus.NewDesc("aiproxy_database_up", "1 when the main database answered its last ping, 0 otherwise.", nil, nil)
	redisUpDesc     = prometheus.NewDesc("aiproxy_redis_up", "1 when Redis answered its last ping, 0 otherwise.", nil, nil)
	breakerStates   = [...]aiproxy.BreakerState{aiproxy.BreakerClosed, aiproxy.BreakerOpen, aiproxy.BreakerHalfOpen}
	breakerStateStr = [...]string{"closed", "open", "half_open"}
)

// scrapeCollector reads, at scrape time, what is not in the logs.
type scrapeCollector struct {
	opts Options
	ttl  time.Duration

	mu            sync.Mutex
	checked       time.Time
	dbUp, redisUp float64
}

func (s *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{breakerDesc, queuedDesc, queueBytesDesc, writtenDesc, failedDesc, spilledDesc, replayedDesc, droppedDesc, databaseUpDesc, redisUpDesc} {
		ch <- d
	}
}

func (s *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	if h := s.opts.Health; h != nil {
		counts := map[int64]*[len(breakerStates)]int{}
		for _, e := range h.Snapshot() {
			n := counts[e.ChannelID]
			if n == nil {
				n = new([len(breakerStates)]int)
				counts[e.ChannelID] = n
			}
			n[e.State.Breaker]++
		}
		for id, n := range counts {
			label := strconv.FormatInt(id, 10)
			for i := range breakerStates {
				ch <- prometheus.MustNewConstMetric(breakerDesc, prometheus.GaugeValue, float64(n[i]), label, breakerStateStr[i])
			}
		}
	}
	if l := s.opts.Logs; l != nil {
		st := l.Stats()
		ch <- prometheus.MustNewConstMetric(queuedDesc, prometheus.GaugeValue, float64(st.Queued))
		ch <- prometheus.MustNewConstMetric(queueBytesDesc, prometheus.GaugeValue, float64(st.QueueBytes))
		ch <- prometheus.MustNewConstMetric(writtenDesc, prometheus.CounterValue, float64(st.Written))
		ch <- prometheus.MustNewConstMetric(failedDesc, prometheus.CounterValue, float64(st.Failed))
		ch <- prometheus.MustNewConstMetric(spilledDesc, prometheus.CounterValue, float64(st.Spilled))
		ch <- prometheus.MustNewConstMetric(replayedDesc, prometheus.CounterValue, float64(st.Replayed))
		ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(st.Dropped))
	}
	if s.opts.DB == nil && s.opts.Redis == nil {
		return
	}
	dbUp, redisUp := s.pings()
	if s.opts.DB != nil {
		ch <- prometheus.MustNewConstMetric(databaseUpDesc, prometheus.GaugeValue, dbUp)
	}
	if s.opts.Redis != nil {
		ch <- prometheus.MustNewConstMetric(redisUpDesc, prometheus.GaugeValue, redisUp)
	}
}

// pings returns the database's and Redis's health, pinging them when the
// last answers are older than the TTL. Concurrent scrapes wait for one
// round of pings.
func (s *scrapeCollector) pings() (dbUp, redisUp float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ttl := s.ttl
	if ttl <= 0 {
		ttl = defaultPingTTL
	}
	if time.Since(s.checked) < ttl {
		return s.dbUp, s.redisUp
	}
	s.dbUp, s.redisUp = ping(s.opts.DB), ping(s.opts.Redis)
	s.checked = time.Now()
	return s.dbUp, s.redisUp
}

func ping(fn func(context.Context) error) float64 {
	if fn == nil {
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
	defer cancel()
	if fn(ctx) != nil {
		return 0
	}
	return 1
}
