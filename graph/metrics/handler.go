package metrics

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Auth says who may read /metrics: the admin key (AdminKey, or when it is
// empty the hex SHA-256 AdminKeySHA256 of a generated one) and the scrape
// token Token (METRICS_TOKEN), each sent as "Authorization: Bearer
// <key>". Empty values admit nobody.
type Auth struct {
	AdminKey       string
	AdminKeySHA256 string
	Token          string
}

// Handler serves the Collector's metrics in the Prometheus text format to
// callers auth admits, and 401 to the others.
func (c *Collector) Handler(auth Auth) http.Handler {
	var hashes [][sha256.Size]byte
	if auth.AdminKey != "" {
		hashes = append(hashes, sha256.Sum256([]byte(auth.AdminKey)))
	} else if h, err := hex.DecodeString(auth.AdminKeySHA256); err == nil && len(h) == sha256.Size {
		hashes = append(hashes, [sha256.Size]byte(h))
	}
	if auth.Token != "" {
		hashes = append(hashes, sha256.Sum256([]byte(auth.Token)))
	}
	next := promhttp.HandlerFor(c.reg, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if ok && strings.EqualFold(scheme, "Bearer") && admitted(hashes, strings.TrimSpace(key)) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
		http.Error(w, "unauthorized: send the admin key or the metrics token as Authorization: Bearer <key>", http.StatusUnauthorized)
	})
}

// admitted compares key, hashed, with every hash in constant time.
func admitted(hashes [][sha256.Size]byte, key string) bool {
	if key == "" {
		return false
	}
	got := sha256.Sum256([]byte(key))
	ok := 0
	for _, h := range hashes {
		ok |= subtle.ConstantTimeCompare(got[:], h[:])
	}
	return ok == 1
}
