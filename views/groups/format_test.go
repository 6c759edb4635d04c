package groups

import (
	"testing"

	"github.com/aiproxy/aiproxy"
)

func TestMoney(t *testing.T) {
	tests := []struct {
		in   aiproxy.Amount
		want string
	}{
		{0, "0.00"},
		{aiproxy.AmountUnit, "1.00"},
		{2_500_000_000, "2.50"},
		{-2_500_000_000, "-2.50"},
		{1, "0.000000001"},
		{123_456_789_012, "123.456789012"},
		{-1, "-0.000000001"},
	}
	for _, tt := range tests {
		if got := money(tt.in); got != tt.want {
			t.Errorf("money(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPaginate(t *testing.T) {
	tests := []struct {
		total, page, per int
		want             pager
	}{
		{0, 1, 50, pager{Page: 1, Pages: 1, Total: 0, from: 0, to: 0}},
		{50, 1, 50, pager{Page: 1, Pages: 1, Total: 50, from: 0, to: 50}},
		{51, 2, 50, pager{Page: 2, Pages: 2, Total: 51, from: 50, to: 51}},
		{51, 7, 50, pager{Page: 2, Pages: 2, Total: 51, from: 50, to: 51}},
		{51, -3, 50, pager{Page: 1, Pages: 2, Total: 51, from: 0, to: 50}},
	}
	for _, tt := range tests {
		if got := paginate(tt.total, tt.page, tt.per); got != tt.want {
			t.Errorf("paginate(%d, %d, %d) = %+v, want %+v", tt.total, tt.page, tt.per, got, tt.want)
		}
	}
}

func TestUsageText(t *testing.T) {
	tests := []struct {
		u    usage
		want string
	}{
		{usage{Used: 4 * aiproxy.AmountUnit, Max: 10 * aiproxy.AmountUnit}, "4.00 used of 10.00 (40%)"},
		{usage{Used: 12 * aiproxy.AmountUnit, Max: 10 * aiproxy.AmountUnit}, "12.00 used of 10.00 (120%)"},
		{usage{Used: aiproxy.AmountUnit}, "1.00 used, no cap"},
		{usage{Used: aiproxy.AmountUnit, Max: 2 * aiproxy.AmountUnit, Note: "daily"}, "1.00 used of 2.00 (50%), daily"},
	}
	for _, tt := range tests {
		if got := tt.u.Text(); got != tt.want {
			t.Errorf("Text() = %q, want %q", got, tt.want)
		}
	}
	if v := (usage{Used: 12, Max: 10}).Value(); v != money(10) {
		t.Errorf("an overused bar's value %q, want it clamped to the max", v)
	}
}
