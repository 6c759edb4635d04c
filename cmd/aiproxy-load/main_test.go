package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Scenarios, ",") != strings.Join(allScenarios, ",") || cfg.Streams != 2000 || len(cfg.EarlySizes) != 4 || cfg.EarlySizes[3] != 8<<20 {
		t.Errorf("defaults = %+v", cfg)
	}
	cfg, err = parseFlags([]string{"-run", "logs, ttfb", "-streams", "10", "-early-sizes", "1m"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Scenarios, ",") != "ttfb,logs" || cfg.Streams != 10 || len(cfg.EarlySizes) != 1 || cfg.EarlySizes[0] != 1<<20 {
		t.Errorf("parsed = %+v", cfg)
	}
	if cfg, err := parseFlags([]string{"-run", "logs,soak,throughput", "-soak-requests", "50"}); err != nil ||
		strings.Join(cfg.Scenarios, ",") != "throughput,soak,logs" || cfg.SoakRequests != 50 || cfg.SoakWorkers != 32 || cfg.SoakFailureRate != 0.05 {
		t.Errorf("soak flags = %+v, %v", cfg, err)
	}
	for _, bad := range [][]string{
		{"-run", "nope"},
		{"-workers", "0"},
		{"-rate", "0"},
		{"-duration", "1h"},
		{"-streams", "100000"},
		{"-early-sizes", "64m"},
		{"-targets", "elsewhere"},
		{"-soak-failure-rate", "0.9"},
		{"-soak-workers", "0"},
		{"extra"},
	} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("parseFlags(%q) succeeded", bad)
		}
	}
}

func TestConfigJSON(t *testing.T) {
	b, err := json.Marshal(&config{Duration: 3 * time.Second, ChunkDelay: 2 * time.Millisecond, Workers: 64})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["duration"] != "3s" || m["chunk_delay"] != "2ms" || m["workers"] != float64(64) {
		t.Errorf("config JSON = %s", b)
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"512", 512, true},
		{"64k", 64 << 10, true},
		{" 8M ", 8 << 20, true},
		{"32m", 32 << 20, true},
		{"33m", 0, false},
		{"0", 0, false},
		{"-1k", 0, false},
		{"1g", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
