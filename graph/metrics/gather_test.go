package metrics_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// find returns the sample of metric whose labels include labels; nil
// when there is none.
func find(tb testing.TB, g prometheus.Gatherer, metric string, labels map[string]string) *dto.Metric {
	tb.Helper()
	mfs, err := g.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != metric {
			continue
		}
	next:
		for _, m := range mf.Metric {
			have := map[string]string{}
			for _, lp := range m.Label {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue next
				}
			}
			return m
		}
	}
	return nil
}

// value returns the value of a counter or gauge sample, 0 when missing.
func value(tb testing.TB, g prometheus.Gatherer, metric string, labels map[string]string) float64 {
	tb.Helper()
	m := find(tb, g, metric, labels)
	switch {
	case m == nil:
		return 0
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

// histogramCount returns a histogram sample's count, 0 when missing.
func histogramCount(tb testing.TB, g prometheus.Gatherer, metric string, labels map[string]string) uint64 {
	tb.Helper()
	if m := find(tb, g, metric, labels); m != nil && m.Histogram != nil {
		return m.Histogram.GetSampleCount()
	}
	return 0
}
