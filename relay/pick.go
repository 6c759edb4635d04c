package relay

import (
	"math/rand/v2"

	"github.com/aiproxy/aiproxy"
)

// pick chooses a channel among chs (sorted by priority, highest first)
// that is not in tried: the highest priority left wins, and within it a
// channel is drawn with probability proportional to its weight (0 counts
// as 1). It returns nil when every channel was tried.
func pick(chs []*aiproxy.Channel, tried []int64) *aiproxy.Channel {
	var total int
	var tier int
	first := true
	for _, c := range chs {
		if contains(tried, c.ID) {
			continue
		}
		if !first && c.Priority != tier {
			break
		}
		first = false
		tier = c.Priority
		total += weight(c)
	}
	if total == 0 {
		return nil
	}
	n := rand.IntN(total)
	for _, c := range chs {
		if c.Priority != tier || contains(tried, c.ID) {
			continue
		}
		if n -= weight(c); n < 0 {
			return c
		}
	}
	return nil
}

func weight(c *aiproxy.Channel) int {
	if c.Weight <= 0 {
		return 1
	}
	return c.Weight
}

func contains(ids []int64, id int64) bool {
	for _, v := range ids {
		if v == id {
			return true
		}
	}
	return false
}
