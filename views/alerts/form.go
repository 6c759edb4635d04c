package alerts

import (
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/views/web"
)

// The sink form's inputs, named as aiproxy.AlertSink.Validate names its
// errors.
const (
	fieldName        = "name"
	fieldKind        = "kind"
	fieldURL         = "url"
	fieldSecret      = "secret"
	fieldClearSecret = "clearSecret"
	fieldPrivate     = "allowPrivateNetwork"
	fieldEnabled     = "enabled"
	fieldKinds       = "kinds"
	fieldSeverity    = "minSeverity"
)

// sinkFields are the sink form's inputs that show errors.
var sinkFields = []string{fieldName, fieldKind, fieldURL, fieldSecret, fieldKinds, fieldSeverity}

// placeErrors moves an error naming no input of the sink form to the
// form's own.
func placeErrors(errs web.FieldErrors) web.FieldErrors {
	out := web.FieldErrors{}
	for f, msg := range errs {
		if !slices.Contains(sinkFields, f) {
			f = ""
		}
		out[f] = msg
	}
	return out
}

// sinkForm is the sink form's values as typed, and its errors. URL and
// Secret are never rendered: the form shows Host and SecretSet instead.
type sinkForm struct {
	ID          int64 // 0 for a new sink
	Name        string
	Kind        string
	URL, Secret string
	ClearSecret bool
	Private     bool
	Enabled     bool
	Kinds       []string
	MinSeverity string
	// Host and SecretSet describe the stored sink's URL and secret.
	Host      string
	SecretSet bool
	Errors    web.FieldErrors
}

// sinkFormOf returns the edit form of s.
func sinkFormOf(s *aiproxy.AlertSink) sinkForm {
	f := sinkForm{ID: s.ID, Name: s.Name, Kind: string(s.Kind), Private: s.AllowPrivateNetwork, Enabled: s.Enabled,
		MinSeverity: string(s.MinSeverity), Host: hostOf(s.URL), SecretSet: s.Secret != ""}
	for _, k := range s.Kinds {
		f.Kinds = append(f.Kinds, string(k))
	}
	return f
}

// readSinkForm reads the posted sink form.
func readSinkForm(v url.Values) sinkForm {
	return sinkForm{Name: strings.TrimSpace(v.Get(fieldName)), Kind: v.Get(fieldKind), URL: strings.TrimSpace(v.Get(fieldURL)),
		Secret: strings.TrimSpace(v.Get(fieldSecret)), ClearSecret: v.Get(fieldClearSecret) != "", Private: v.Get(fieldPrivate) != "",
		Enabled: v.Get(fieldEnabled) != "", Kinds: v[fieldKinds], MinSeverity: v.Get(fieldSeverity)}
}

// kinds returns the alert kinds checked.
func (f sinkForm) kinds() []aiproxy.AlertKind {
	var out []aiproxy.AlertKind
	for _, k := range f.Kinds {
		out = append(out, aiproxy.AlertKind(k))
	}
	return out
}

// sink returns the new sink the form describes.
func (f sinkForm) sink() *aiproxy.AlertSink {
	return &aiproxy.AlertSink{Name: f.Name, Kind: aiproxy.AlertSinkKind(f.Kind), URL: f.URL, Secret: f.Secret,
		AllowPrivateNetwork: f.Private, Enabled: f.Enabled, Kinds: f.kinds(), MinSeverity: aiproxy.AlertSeverity(f.MinSeverity)}
}

// update returns the change the edit form makes: an empty URL or secret
// keeps the stored one; ClearSecret removes the secret.
func (f sinkForm) update() aiproxy.AlertSinkUpdate {
	kinds, sev := f.kinds(), aiproxy.AlertSeverity(f.MinSeverity)
	if kinds == nil {
		kinds = []aiproxy.AlertKind{}
	}
	u := aiproxy.AlertSinkUpdate{Name: &f.Name, AllowPrivateNetwork: &f.Private, Enabled: &f.Enabled, Kinds: &kinds, MinSeverity: &sev}
	if f.URL != "" {
		u.URL = &f.URL
	}
	switch {
	case f.Secret != "":
		u.Secret = &f.Secret
	case f.ClearSecret:
		none := ""
		u.Secret = &none
	}
	return u
}

// The thresholds form's inputs, named as aiproxy.AlertSettings.Validate
// names its errors.
const (
	fieldThrottle     = "throttleSeconds"
	fieldErrorRate    = "errorRate"
	fieldSpikeFactor  = "spikeFactor"
	fieldSpikeMin     = "spikeMin"
	fieldLogQueueWarn = "logQueueWarn"
)

// settingsForm is the thresholds form's values as typed (empty: the
// server's setting), and its errors.
type settingsForm struct {
	Throttle, ErrorRate, SpikeFactor, SpikeMin, LogQueueWarn string
	Errors                                                   web.FieldErrors
}

// settingsFormOf returns the form showing the stored settings st.
func settingsFormOf(st *aiproxy.AlertSettings) settingsForm {
	f := settingsForm{}
	if st.Throttle > 0 {
		f.Throttle = strconv.FormatInt(int64(st.Throttle/time.Second), 10)
	}
	if st.ErrorRate != 0 {
		f.ErrorRate = strconv.FormatFloat(st.ErrorRate, 'f', -1, 64)
	}
	if st.SpikeFactor != 0 {
		f.SpikeFactor = strconv.FormatFloat(st.SpikeFactor, 'f', -1, 64)
	}
	if st.SpikeMin > 0 {
		f.SpikeMin = strconv.FormatInt(st.SpikeMin, 10)
	}
	if st.LogQueueWarn > 0 {
		f.LogQueueWarn = strconv.Itoa(st.LogQueueWarn)
	}
	return f
}

// readSettingsForm reads the posted thresholds form.
func readSettingsForm(v url.Values) settingsForm {
	g := func(k string) string { return strings.TrimSpace(v.Get(k)) }
	return settingsForm{Throttle: g(fieldThrottle), ErrorRate: g(fieldErrorRate), SpikeFactor: g(fieldSpikeFactor),
		SpikeMin: g(fieldSpikeMin), LogQueueWarn: g(fieldLogQueueWarn)}
}

// apply sets st from the form, as the GraphQL API's updateAlertSettings
// does: empty means 0, the server's setting. An EINVALID error names the
// input refused.
func (f settingsForm) apply(st *aiproxy.AlertSettings) error {
	whole := func(field, s string, limit int64) (int64, error) {
		if s == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 || n > limit {
			return 0, aiproxy.FieldErrorf(field, "Enter a whole number from 0 to %d.", limit)
		}
		return n, nil
	}
	number := func(field, s string) (float64, error) {
		if s == "" {
			return 0, nil
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, aiproxy.FieldErrorf(field, "Enter a number, such as 0.3.")
		}
		return v, nil
	}
	throttle, err := whole(fieldThrottle, f.Throttle, 30*24*3600)
	if err != nil {
		return err
	}
	rate, err := number(fieldErrorRate, f.ErrorRate)
	if err != nil {
		return err
	}
	factor, err := number(fieldSpikeFactor, f.SpikeFactor)
	if err != nil {
		return err
	}
	spikeMin, err := whole(fieldSpikeMin, f.SpikeMin, math.MaxInt32)
	if err != nil {
		return err
	}
	queue, err := whole(fieldLogQueueWarn, f.LogQueueWarn, math.MaxInt32)
	if err != nil {
		return err
	}
	st.Throttle, st.ErrorRate, st.SpikeFactor = time.Duration(throttle)*time.Second, rate, factor
	st.SpikeMin, st.LogQueueWarn = spikeMin, int(queue)
	return st.Validate()
}
