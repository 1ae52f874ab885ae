package httpproxy

import (
	"github.com/penstock-proxy/penstock/codecs/http1"
	"github.com/penstock-proxy/penstock/l7/httpd"
)

// Header is an editable list of field lines. Its values may borrow from the
// request or response they came from; Set and Add copy what they are
// given.
type Header struct {
	Fields []httpd.Field
}

// Get returns the first value of the field named name (any case).
func (h *Header) Get(name string) ([]byte, bool) {
	for _, f := range h.Fields {
		if equalFold(f.Name, name) {
			return f.Value, true
		}
	}
	return nil, false
}

// Set replaces every field named name with one of the given value.
func (h *Header) Set(name, value string) {
	h.Del(name)
	h.Add(name, value)
}

// Add appends a field.
func (h *Header) Add(name, value string) {
	h.Fields = append(h.Fields, httpd.Field{Name: []byte(name), Value: []byte(value)})
}

// Del removes every field named name.
func (h *Header) Del(name string) {
	out := h.Fields[:0]
	for _, f := range h.Fields {
		if !equalFold(f.Name, name) {
			out = append(out, f)
		}
	}
	clear(h.Fields[len(out):])
	h.Fields = out
}

func (h *Header) reset() {
	clear(h.Fields)
	h.Fields = h.Fields[:0]
}

var equalFold = http1.EqualFold
