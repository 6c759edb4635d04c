package relay

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/aiproxy/aiproxy"
)

// models serves GET /v1/models: the models the token may use.
func (h *Handler) models(w http.ResponseWriter, r *http.Request) {
	tok, _, err := h.authenticate(r, clientIP(r))
	if err != nil {
		writeError(w, err)
		return
	}
	b := append(make([]byte, 0, 4096), `{"object":"list","data":[`...)
	n := 0
	for _, m := range h.Catalog.Models() {
		if !tok.AllowsModel(m) {
			continue
		}
		chs := h.Catalog.Channels(m)
		if len(chs) == 0 {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = appendModel(b, m, chs[0])
		n++
	}
	b = append(b, "]}"...)
	writeJSON(w, b)
}

// model serves GET /v1/models/{model}; model names may contain slashes.
func (h *Handler) model(w http.ResponseWriter, r *http.Request) {
	tok, _, err := h.authenticate(r, clientIP(r))
	if err != nil {
		writeError(w, err)
		return
	}
	m, err := url.PathUnescape(chi.URLParam(r, "*"))
	if err != nil {
		m = chi.URLParam(r, "*")
	}
	chs := h.Catalog.Channels(m)
	if len(chs) == 0 || !tok.AllowsModel(m) {
		writeError(w, aiproxy.Errorf(aiproxy.ENOTFOUND, "The model `%s` does not exist or you do not have access to it.", m))
		return
	}
	writeJSON(w, appendModel(nil, m, chs[0]))
}

// appendModel appends an OpenAI model object.
func appendModel(b []byte, model string, ch *aiproxy.Channel) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, model)
	b = append(b, `,"object":"model","created":`...)
	b = strconv.AppendInt(b, ch.CreatedAt.Unix(), 10)
	b = append(b, `,"owned_by":`...)
	b = appendString(b, string(ch.Type))
	return append(b, '}')
}

func writeJSON(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}
