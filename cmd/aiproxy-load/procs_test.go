package main

import "testing"

func TestStatusBytes(t *testing.T) {
	status := []byte("Name:\taiproxy\nVmPeak:\t  812344 kB\nVmHWM:\t   90112 kB\nVmRSS:\t   81920 kB\nThreads:\t9\n")
	tests := []struct {
		field   string
		want    int64
		wantErr bool
	}{
		{"VmRSS", 81920 << 10, false},
		{"VmHWM", 90112 << 10, false},
		{"Threads", 0, true}, // no unit
		{"VmSwap", 0, true},  // absent
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			got, err := statusBytes(status, tt.field)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("statusBytes(%s) = %d, %v; want %d, error %v", tt.field, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestStatTicks(t *testing.T) {
	tests := []struct {
		name string
		stat string
		want int64
	}{
		{"plain", "4242 (aiproxy) S 1 4242 4242 0 -1 4194560 1234 0 0 0 150 27 0 0 20 0 9 0 100 0 0", 177},
		{"name with spaces and parens", "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 1 0 0", 7},
		{"truncated", "7 (x) R 1 7", 0},
		{"garbage", "nonsense", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := statTicks([]byte(tt.stat)); got != tt.want {
				t.Errorf("statTicks = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestMachineTicksAndOtherShare(t *testing.T) {
	busy, total := machineTicks([]byte("cpu  100 5 50 800 20 3 2 10 0 0\ncpu0 50 2 25 400 10 1 1 5 0 0\n"))
	if busy != 170 || total != 990 {
		t.Errorf("machineTicks = %d, %d; want 170, 990", busy, total)
	}
	if b, tot := machineTicks([]byte("intr 1 2 3\n")); b != 0 || tot != 0 {
		t.Errorf("machineTicks of garbage = %d, %d", b, tot)
	}
	a := cpuSample{busy: 100, total: 1000, ours: 50}
	b := cpuSample{busy: 300, total: 1200, ours: 230}
	if got := otherShare(a, b); got < 0.099 || got > 0.101 { // (200-180)/200
		t.Errorf("otherShare = %v, want 0.1", got)
	}
	if got := otherShare(b, b); got != 0 {
		t.Errorf("otherShare of no time = %v", got)
	}
}
