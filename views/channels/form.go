package channels

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
)

// Input names of the channel form. They are the Field names that
// Channel.Validate and the providers' config checks return, so that an
// error lands beside its input; a config key's input is named
// "config.<key>".
const (
	fieldName       = "name"
	fieldType       = "type"
	fieldBaseURL    = "baseURL"
	fieldKey        = "key"
	fieldClearKey   = "clearKey"
	fieldModels     = "models"
	fieldMapping    = "modelMapping"
	fieldPriority   = "priority"
	fieldWeight     = "weight"
	fieldSets       = "sets"
	fieldProxyURL   = "proxyURL"
	fieldHeaders    = "headers"
	fieldBreaker    = "breakerThreshold"
	fieldLowBalance = "lowBalanceThreshold"
	fieldEnabled    = "enabled"
	fieldConfig     = "config"
	configPrefix    = "config."
)

// channelForm is the channel form as typed: every value is the text of its
// input, so that a form sent back with errors shows what was typed. The
// key is never written back into the page.
type channelForm struct {
	Name, Type, BaseURL string
	// Key is the key as typed; on the edit form "" keeps the channel's,
	// and ClearKey removes it.
	Key      string
	ClearKey bool
	// HasKey says the edited channel has a key (for the hint).
	HasKey bool
	// Models are separated by commas or line breaks; ModelMapping and
	// Headers hold one "from=to" or "Name: value" per line.
	Models, ModelMapping string
	Priority, Weight     string
	Sets                 string // separated by commas or spaces
	// ProxyURL and the values of Headers, when read from a channel, are
	// masked as the read APIs mask them; sent back unchanged, they keep
	// the channel's secrets.
	ProxyURL, Headers            string
	BreakerThreshold, LowBalance string
	Enabled                      bool
	Config                       map[string]string // by config key
}

// newForm returns the form of a new channel of type t.
func newForm(t aiproxy.ChannelType) channelForm {
	return channelForm{Type: string(t), Priority: "0", Weight: "1", Enabled: true, Config: map[string]string{}}
}

// formOf returns the form showing c, its secrets masked.
func formOf(c *aiproxy.Channel) channelForm {
	f := channelForm{
		Name:             c.Name,
		Type:             string(c.Type),
		BaseURL:          c.BaseURL,
		HasKey:           c.Key != "",
		Models:           strings.Join(c.Models, "\n"),
		Priority:         strconv.Itoa(c.Priority),
		Weight:           strconv.Itoa(c.Weight),
		Sets:             strings.Join(c.Sets, ", "),
		ProxyURL:         aiproxy.MaskProxyURL(c.ProxyURL),
		BreakerThreshold: formatFloat(c.BreakerThreshold),
		LowBalance:       formatFloat(c.LowBalance),
		Enabled:          c.Enabled,
		Config:           configValues(c.Config),
	}
	var b strings.Builder
	for _, m := range c.ModelMapping {
		b.WriteString(m.From + "=" + m.To + "\n")
	}
	f.ModelMapping = b.String()
	b.Reset()
	for _, h := range c.Headers {
		b.WriteString(h.Name + ": " + aiproxy.MaskKey(h.Value) + "\n")
	}
	f.Headers = b.String()
	return f
}

// formatFloat returns v as typed in a number input, "" for 0 (the
// fields' "not set").
func formatFloat(v float64) string {
	if v == 0 {
		return ""
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// readForm returns the form as posted.
func readForm(v url.Values) channelForm {
	f := channelForm{
		Name:             v.Get(fieldName),
		Type:             strings.TrimSpace(v.Get(fieldType)),
		BaseURL:          v.Get(fieldBaseURL),
		Key:              v.Get(fieldKey),
		ClearKey:         v.Get(fieldClearKey) != "",
		Models:           v.Get(fieldModels),
		ModelMapping:     v.Get(fieldMapping),
		Priority:         v.Get(fieldPriority),
		Weight:           v.Get(fieldWeight),
		Sets:             v.Get(fieldSets),
		ProxyURL:         v.Get(fieldProxyURL),
		Headers:          v.Get(fieldHeaders),
		BreakerThreshold: v.Get(fieldBreaker),
		LowBalance:       v.Get(fieldLowBalance),
		Enabled:          v.Get(fieldEnabled) != "",
		Config:           map[string]string{},
	}
	for k, vs := range v {
		if name, ok := strings.CutPrefix(k, configPrefix); ok && len(vs) > 0 {
			f.Config[name] = vs[0]
		}
	}
	return f
}

// channel returns the channel the form describes, p being its type's
// provider (nil for a type the registry does not know: the service then
// refuses the type). It returns an EINVALID *Error naming the input of a
// value that is not even of the right kind (a priority that is not a
// number); the service checks the rest.
func (f *channelForm) channel(p *relay.Provider) (*aiproxy.Channel, error) {
	c := &aiproxy.Channel{
		Name:    f.Name,
		Type:    aiproxy.ChannelType(f.Type),
		BaseURL: f.BaseURL,
		Key:     f.Key,
		Models: strings.FieldsFunc(f.Models, func(r rune) bool {
			return r == ',' || r == '\n' || r == '\r'
		}),
		Sets:     strings.FieldsFunc(f.Sets, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' }),
		ProxyURL: f.ProxyURL,
		Enabled:  f.Enabled,
	}
	var err error
	if c.Priority, err = parseInt(fieldPriority, f.Priority); err != nil {
		return nil, err
	}
	if c.Weight, err = parseInt(fieldWeight, f.Weight); err != nil {
		return nil, err
	}
	if c.BreakerThreshold, err = parseFloat(fieldBreaker, f.BreakerThreshold); err != nil {
		return nil, err
	}
	if c.LowBalance, err = parseFloat(fieldLowBalance, f.LowBalance); err != nil {
		return nil, err
	}
	if c.ModelMapping, err = parseMapping(f.ModelMapping); err != nil {
		return nil, err
	}
	if c.Headers, err = parseHeaders(f.Headers); err != nil {
		return nil, err
	}
	if c.Config, err = configJSON(p, f.Config); err != nil {
		return nil, err
	}
	return c, nil
}

// update returns the change the edit form asks of cur, p being the
// provider of the type chosen. It sets every field but the key, which
// changes only when one was typed or ClearKey is set; a proxy URL and
// header values sent back masked keep cur's. Errors are channel's.
func (f *channelForm) update(cur *aiproxy.Channel, p *relay.Provider) (aiproxy.ChannelUpdate, error) {
	c, err := f.channel(p)
	if err != nil {
		return aiproxy.ChannelUpdate{}, err
	}
	u := aiproxy.ChannelUpdate{
		Name:             &c.Name,
		Type:             &c.Type,
		BaseURL:          &c.BaseURL,
		Models:           c.Models,
		ModelMapping:     &c.ModelMapping,
		Priority:         &c.Priority,
		Weight:           &c.Weight,
		Sets:             &c.Sets,
		BreakerThreshold: &c.BreakerThreshold,
		LowBalance:       &c.LowBalance,
		Enabled:          &c.Enabled,
		Config:           c.Config,
	}
	if u.Models == nil {
		u.Models = []string{} // empty is invalid, nil would keep the models
	}
	if u.Config == nil {
		u.Config = json.RawMessage("{}") // the type's defaults
	}
	switch {
	case f.ClearKey:
		u.Key = new(string)
	case f.Key != "":
		u.Key = &c.Key
	}
	if strings.TrimSpace(f.ProxyURL) != aiproxy.MaskProxyURL(cur.ProxyURL) {
		u.ProxyURL = &c.ProxyURL
	}
	for i, h := range c.Headers {
		for _, old := range cur.Headers {
			if strings.EqualFold(old.Name, h.Name) && h.Value == aiproxy.MaskKey(old.Value) {
				c.Headers[i].Value = old.Value
			}
		}
	}
	u.Headers = &c.Headers
	return u, nil
}

// parseInt reads the whole number of input field, 0 when empty.
func parseInt(field, s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, aiproxy.FieldErrorf(field, "%s must be a whole number", field)
	}
	return n, nil
}

// parseFloat reads the number of input field, 0 when empty.
func parseFloat(field, s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v != v {
		return 0, aiproxy.FieldErrorf(field, "%s must be a number", field)
	}
	return v, nil
}

// lines returns the lines of s that are not blank, trimmed.
func lines(s string) []string {
	var out []string
	for l := range strings.Lines(s) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// parseMapping reads "from=to" lines.
func parseMapping(s string) ([]aiproxy.ModelMapping, error) {
	var out []aiproxy.ModelMapping
	for i, l := range lines(s) {
		from, to, ok := strings.Cut(l, "=")
		if !ok {
			return nil, aiproxy.FieldErrorf(fieldMapping, "line %d: write one mapping per line as from=to", i+1)
		}
		out = append(out, aiproxy.ModelMapping{From: strings.TrimSpace(from), To: strings.TrimSpace(to)})
	}
	return out, nil
}

// parseHeaders reads "Name: value" lines.
func parseHeaders(s string) ([]aiproxy.Header, error) {
	var out []aiproxy.Header
	for i, l := range lines(s) {
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			return nil, aiproxy.FieldErrorf(fieldHeaders, "line %d: write one header per line as Name: value", i+1)
		}
		out = append(out, aiproxy.Header{Name: strings.TrimSpace(name), Value: strings.TrimSpace(value)})
	}
	return out, nil
}

// configJSON returns the config object of the values typed in p's config
// inputs, in p's order, leaving out the empty ones; nil when all are
// empty (or p is nil). Integers and booleans become JSON numbers and
// booleans, string lists arrays of their comma-separated values. It
// returns EINVALID naming "config.<key>" for a value not of its kind.
func configJSON(p *relay.Provider, values map[string]string) (json.RawMessage, error) {
	if p == nil {
		return nil, nil
	}
	var b bytes.Buffer
	for _, cf := range p.Config {
		s := strings.TrimSpace(values[cf.Name])
		if s == "" {
			continue
		}
		var v any = s
		switch cf.Type {
		case "integer":
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, aiproxy.FieldErrorf(configPrefix+cf.Name, "%s must be a whole number", cf.Name)
			}
			v = n
		case "boolean":
			t, err := strconv.ParseBool(s)
			if err != nil {
				return nil, aiproxy.FieldErrorf(configPrefix+cf.Name, "%s must be true or false", cf.Name)
			}
			v = t
		case "string list":
			list := []string{}
			for item := range strings.SplitSeq(s, ",") {
				if item = strings.TrimSpace(item); item != "" {
					list = append(list, item)
				}
			}
			v = list
		}
		if b.Len() == 0 {
			b.WriteByte('{')
		} else {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(cf.Name)
		val, _ := json.Marshal(v)
		b.Write(k)
		b.WriteByte(':')
		b.Write(val)
	}
	if b.Len() == 0 {
		return nil, nil
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// configValues returns the values of a channel's config as its inputs
// show them: strings as they are, numbers and booleans in JSON, lists
// joined by ", ".
func configValues(cfg json.RawMessage) map[string]string {
	out := map[string]string{}
	var m map[string]json.RawMessage
	if len(cfg) == 0 || json.Unmarshal(cfg, &m) != nil {
		return out
	}
	for k, raw := range m {
		var s string
		var list []string
		switch {
		case json.Unmarshal(raw, &s) == nil:
			out[k] = s
		case json.Unmarshal(raw, &list) == nil:
			out[k] = strings.Join(list, ", ")
		default:
			out[k] = string(raw)
		}
	}
	return out
}

// backQuery returns the list view a form's hidden "back" field names, as
// a listQuery: only the list's own parameters are kept, so that the
// redirect after a POST cannot lead elsewhere.
func backQuery(r *http.Request) listQuery {
	v, _ := url.ParseQuery(r.PostFormValue("back"))
	return parseListQuery(v)
}
