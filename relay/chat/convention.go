package chat

import (
	"encoding/base64"
	"strings"
)

// Conventions shared by the protocols, so that what one protocol must get
// back unchanged survives a trip through another.

// sigMark separates a tool call's id from the signature joined to it.
const sigMark = "__sig_"

// JoinCallID returns the tool call id to show a client of a protocol that
// has no place for a call's thought signature (Gemini's): the id with the
// signature joined to it, in base64url, so that the client sends both
// back when it returns the call in its history or answers it. It returns
// id alone when sig is "".
func JoinCallID(id, sig string) string {
	if sig == "" {
		return id
	}
	return id + sigMark + base64.RawURLEncoding.EncodeToString([]byte(sig))
}

// SplitCallID undoes JoinCallID: it returns the id and the signature
// joined to wire ("" when none). An id that was never joined comes back
// as it is.
func SplitCallID(wire string) (id, sig string) {
	i := strings.Index(wire, sigMark)
	if i < 0 {
		return wire, ""
	}
	b, err := base64.RawURLEncoding.DecodeString(wire[i+len(sigMark):])
	if err != nil {
		return wire, ""
	}
	return wire[:i], string(b)
}

// Reasoning efforts, least first, with the thinking budget (in tokens)
// each maps to for protocols that take a budget, and back.
var efforts = []struct {
	name   string
	budget int64
}{
	{"minimal", 512},
	{"low", 2048},
	{"medium", 8192},
	{"high", 24576},
	{"xhigh", 32768},
	{"max", 65536},
}

// BudgetFor returns the thinking budget of an effort level: minimal 512,
// low 2048, medium 8192, high 24576, xhigh 32768, max 65536 tokens. It
// returns 0 for an unknown level.
func BudgetFor(effort string) int64 {
	for _, e := range efforts {
		if e.name == effort {
			return e.budget
		}
	}
	return 0
}

// EffortFor returns the effort level of a thinking budget: the least
// level whose budget is at least budget ("max" above them all); "medium"
// for a dynamic budget (-1), "" for 0.
func EffortFor(budget int64) string {
	switch {
	case budget == 0:
		return ""
	case budget < 0:
		return "medium"
	}
	for _, e := range efforts {
		if budget <= e.budget {
			return e.name
		}
	}
	return "max"
}
