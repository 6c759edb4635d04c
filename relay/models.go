package relay

import (
	"net/http"
	"strconv"
	"time"

	"github.com/aiproxy/aiproxy"
)

// serveModels answers the models endpoints in in's protocol: every model
// the key may use, or only the one named (model != "").
func (s *Server) serveModels(w http.ResponseWriter, r *http.Request, in Ingress, model string) {
	req := &Request{Ingress: in, Protocol: in.Protocol(), ClientIP: s.clientIP(r), Received: time.Now(), Log: &aiproxy.Log{}}
	if err := s.authenticate(r, req); err != nil {
		s.writeError(w, nil, in, err, 0)
		return
	}
	tok := req.Token
	var b []byte
	if model != "" {
		chs := groupChannels(s.Catalog.Channels(model), req.Group)
		if len(chs) == 0 || !tok.AllowsModel(model) {
			s.writeError(w, nil, in, aiproxy.ReasonErrorf(aiproxy.ENOTFOUND, "model_not_found", "The model `%s` does not exist or you do not have access to it.", model), 0)
			return
		}
		b = in.AppendModel(nil, modelInfo(model, chs[0]))
	} else {
		var infos []ModelInfo
		for _, m := range s.Catalog.Models() {
			if !tok.AllowsModel(m) {
				continue
			}
			if chs := groupChannels(s.Catalog.Channels(m), req.Group); len(chs) > 0 {
				infos = append(infos, modelInfo(m, chs[0]))
			}
		}
		b = in.AppendModels(make([]byte, 0, 64+96*len(infos)), infos)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}

// groupChannels returns the channels of chs in the channel sets group
// may use: chs itself when all are (the usual case, no copy).
func groupChannels(chs []*aiproxy.Channel, g *aiproxy.Group) []*aiproxy.Channel {
	if g == nil {
		return chs
	}
	for i, c := range chs {
		if !c.InSets(g.AvailableSets) {
			out := append([]*aiproxy.Channel(nil), chs[:i]...)
			for _, c := range chs[i+1:] {
				if c.InSets(g.AvailableSets) {
					out = append(out, c)
				}
			}
			return out
		}
	}
	return chs
}

func modelInfo(model string, ch *aiproxy.Channel) ModelInfo {
	return ModelInfo{ID: model, Created: ch.CreatedAt, OwnedBy: string(ch.Type)}
}

// countLocally answers a token count no channel can make: the tokenizer
// counts the request. Nothing reached a provider, so nothing is logged.
func (s *Server) countLocally(req *Request) (*Response, error) {
	c, err := req.Chat()
	if err != nil {
		return nil, err
	}
	req.unlogged = true
	return &Response{TokenCount: countChat(req.Model, c), Usage: &aiproxy.Usage{}}, nil
}
