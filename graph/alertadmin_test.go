package graph_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/99designs/gqlgen/client"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/graph"
	"github.com/aiproxy/aiproxy/graph/alert"
)

// TestAlertSinkAdmin administers a sink over the API: the URL and secret
// never come back, the test alert reaches a fake receiver, a sink refused
// by the outbound guard says why without its URL, and the settings in
// effect combine the stored ones with the server's.
func TestAlertSinkAdmin(t *testing.T) {
	var mu sync.Mutex
	var got []alert.WebhookPayload
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p alert.WebhookPayload
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &p); err != nil {
			t.Errorf("payload %s: %v", b, err)
		}
		mu.Lock()
		got = append(got, p)
		mu.Unlock()
	}))
	defer recv.Close()
	n := alert.NewNotifier(alert.Options{})
	defer n.Close()
	svc := &alertService{}
	a := newAPIWith(t, func(r *graph.Resolver) {
		r.AlertService = svc
		r.AlertAdmin = n
		r.AlertDefaults = aiproxy.AlertSettings{Throttle: 600e9, ErrorRate: 0.3, SpikeFactor: 3, SpikeMin: 100, LogQueueWarn: 1000}
	})
	svc.AlertService = a.svc

	secretURL := recv.URL + "/hooks/T0000/B0000/very-secret-path"
	type sink struct {
		ID, Name, Kind, URLHost string
		SecretSet               bool
		AllowPrivateNetwork     bool
		Enabled                 bool
		Kinds                   []string
		MinSeverity             *string
	}
	var created struct{ CreateAlertSink sink }
	const fields = `id name kind urlHost secretSet allowPrivateNetwork enabled kinds minSeverity`
	a.mustPost(t, `mutation($url: String!) { createAlertSink(input: {name: "ops", kind: WEBHOOK, url: $url, allowPrivateNetwork: true, kinds: ["breaker_open", "logs"], minSeverity: "warning"}) { `+fields+` } }`,
		&created, client.Var("url", secretURL))
	s := created.CreateAlertSink
	if s.Name != "ops" || s.Kind != "WEBHOOK" || s.URLHost != strings.TrimPrefix(recv.URL, "http://") || !s.AllowPrivateNetwork || !s.Enabled ||
		len(s.Kinds) != 2 || s.MinSeverity == nil || *s.MinSeverity != "warning" || s.SecretSet {
		t.Fatalf("created %+v", s)
	}
	var list map[string]any
	a.mustPost(t, `{ alertSinks { `+fields+` createdAt updatedAt } }`, &list)
	if b, _ := json.Marshal(list); strings.Contains(string(b), "very-secret-path") || !strings.Contains(string(b), `"ops"`) {
		t.Errorf("alertSinks shows the URL or misses the sink: %s", list)
	}

	var tested struct {
		TestAlertSink struct {
			Ok    bool
			Error *string
		}
	}
	a.mustPost(t, `mutation($id: ID!) { testAlertSink(id: $id) { ok error } }`, &tested, client.Var("id", s.ID))
	if !tested.TestAlertSink.Ok {
		t.Fatalf("test alert: %v", *tested.TestAlertSink.Error)
	}
	mu.Lock()
	if len(got) != 1 || got[0].Title != "Test alert from aiproxy" {
		t.Errorf("receiver got %+v", got)
	}
	mu.Unlock()

	// Without allowPrivateNetwork the loopback receiver is refused, and
	// the answer says why without the URL.
	var updated struct{ UpdateAlertSink sink }
	a.mustPost(t, `mutation($id: ID!) { updateAlertSink(id: $id, input: {allowPrivateNetwork: false, kinds: []}) { `+fields+` } }`, &updated, client.Var("id", s.ID))
	if updated.UpdateAlertSink.AllowPrivateNetwork || len(updated.UpdateAlertSink.Kinds) != 0 || updated.UpdateAlertSink.Name != "ops" {
		t.Errorf("updated %+v", updated.UpdateAlertSink)
	}
	a.mustPost(t, `mutation($id: ID!) { testAlertSink(id: $id) { ok error } }`, &tested, client.Var("id", s.ID))
	if tested.TestAlertSink.Ok || tested.TestAlertSink.Error == nil || !strings.Contains(*tested.TestAlertSink.Error, "private") ||
		strings.Contains(*tested.TestAlertSink.Error, "very-secret-path") {
		t.Errorf("refused test: %+v", tested.TestAlertSink)
	}

	// A secret is FEISHU's only, and write-only.
	wantError(t, a.post(t, `mutation($id: ID!) { updateAlertSink(id: $id, input: {secret: "s3cr3t-value"}) { id } }`, nil, client.Var("id", s.ID)), "INVALID", "secret")
	var feishu struct{ CreateAlertSink sink }
	a.mustPost(t, `mutation { createAlertSink(input: {name: "lark", kind: FEISHU, url: "https://open.feishu.cn/open-apis/bot/v2/hook/x", secret: "s3cr3t-value"}) { `+fields+` } }`, &feishu)
	if !feishu.CreateAlertSink.SecretSet {
		t.Errorf("feishu %+v", feishu.CreateAlertSink)
	}
	a.mustPost(t, `{ alertSinks { `+fields+` } }`, &list)
	if b, _ := json.Marshal(list); strings.Contains(string(b), "s3cr3t-value") || strings.Contains(string(b), "/hook/x") {
		t.Errorf("alertSinks shows a secret: %s", list)
	}
	wantError(t, a.post(t, `mutation { createAlertSink(input: {name: "x", kind: SLACK, url: "ftp://x"}) { id } }`, nil), "INVALID", "url")
	wantError(t, a.post(t, `mutation { createAlertSink(input: {name: "x", kind: SLACK, url: "https://x", kinds: ["nope"]}) { id } }`, nil), "INVALID", "kinds")

	// Settings: the server's until set; 0 goes back to them; negative
	// switches a trigger off.
	type settings struct {
		ThrottleSeconds, SpikeMin, LogQueueWarn int
		ErrorRate, SpikeFactor                  float64
		Kinds                                   []string
	}
	var st struct{ AlertSettings settings }
	a.mustPost(t, `{ alertSettings { throttleSeconds errorRate spikeFactor spikeMin logQueueWarn kinds } }`, &st)
	if st.AlertSettings.ThrottleSeconds != 600 || st.AlertSettings.ErrorRate != 0.3 || st.AlertSettings.SpikeFactor != 3 || len(st.AlertSettings.Kinds) != len(aiproxy.AlertKinds) {
		t.Errorf("default settings %+v", st.AlertSettings)
	}
	var up struct{ UpdateAlertSettings settings }
	a.mustPost(t, `mutation { updateAlertSettings(input: {throttleSeconds: 60, errorRate: 0.5, spikeFactor: -1}) { throttleSeconds errorRate spikeFactor spikeMin logQueueWarn } }`, &up)
	if up.UpdateAlertSettings.ThrottleSeconds != 60 || up.UpdateAlertSettings.ErrorRate != 0.5 || up.UpdateAlertSettings.SpikeFactor != 0 || up.UpdateAlertSettings.SpikeMin != 100 {
		t.Errorf("updated settings %+v", up.UpdateAlertSettings)
	}
	stored, err := a.svc.AlertSettings(context.Background())
	if err != nil || stored.Throttle != 60e9 || stored.ErrorRate != 0.5 || stored.SpikeFactor != -1 {
		t.Errorf("stored settings %+v, %v", stored, err)
	}
	wantError(t, a.post(t, `mutation { updateAlertSettings(input: {errorRate: 2}) { errorRate } }`, nil), "INVALID", "errorRate")

	var del struct{ DeleteAlertSink bool }
	a.mustPost(t, `mutation($id: ID!) { deleteAlertSink(id: $id) }`, &del, client.Var("id", s.ID))
	wantError(t, a.post(t, `mutation($id: ID!) { deleteAlertSink(id: $id) }`, nil, client.Var("id", s.ID)), "NOT_FOUND", "")
}

// alertService is an AlertService set once the API's store exists.
type alertService struct{ aiproxy.AlertService }

// TestChannelLowBalanceThreshold sets and changes a channel's balance
// threshold, the channel_balance_low alert's trigger.
func TestChannelLowBalanceThreshold(t *testing.T) {
	a := newAPI(t)
	var c struct {
		CreateChannel struct {
			ID                  string
			LowBalanceThreshold float64
		}
	}
	a.mustPost(t, `mutation { createChannel(input: {name: "b", type: "openai", key: "k", models: ["m"], lowBalanceThreshold: 12.5}) { id lowBalanceThreshold } }`, &c)
	if c.CreateChannel.LowBalanceThreshold != 12.5 {
		t.Errorf("created with %v", c.CreateChannel.LowBalanceThreshold)
	}
	var u struct {
		UpdateChannel struct{ LowBalanceThreshold float64 }
	}
	a.mustPost(t, `mutation($id: ID!) { updateChannel(id: $id, input: {lowBalanceThreshold: 0}) { lowBalanceThreshold } }`, &u, client.Var("id", c.CreateChannel.ID))
	if u.UpdateChannel.LowBalanceThreshold != 0 || a.storedChannel(t, c.CreateChannel.ID).LowBalance != 0 {
		t.Errorf("updated to %v", u.UpdateChannel.LowBalanceThreshold)
	}
	wantError(t, a.post(t, `mutation { createChannel(input: {name: "c", type: "openai", key: "k", models: ["m"], lowBalanceThreshold: -1}) { id } }`, nil), "INVALID", "lowBalanceThreshold")
}
