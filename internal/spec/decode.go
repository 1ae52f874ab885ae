package spec

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a duration written with its unit, such as 5s, 1m30s or
// 250ms. A bare number is refused: 20 could mean 20s or 20ns.
type Duration time.Duration

// renamer is a schema type that knows keys an older format used, and
// what replaced them.
type renamer interface {
	renamed() map[string]string
}

// keyRecorder is a schema type that wants the keys written in it, with
// their lines, for checks that depend on other keys (a stage's kind).
type keyRecorder interface {
	setKeys(keys []string, lines map[string]int)
}

// keyLister is a schema type whose valid keys depend on what is written
// in it (a stage's keys on its kind): they make the nearest-key hint.
type keyLister interface {
	validKeys(n *yaml.Node) []string
}

// decoder turns a YAML node tree into the schema's Go types. Unlike
// yaml.v3's decoder it goes on after a problem, so that every problem of a
// file is reported at once, and it says each one in the schema's words:
// the key path, what was expected, and the nearest valid key.
type decoder struct {
	file string
	errs Errors
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: n.Line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

var durationType = reflect.TypeOf(Duration(0))

// decode stores n in v, which the path names; on a problem it records it
// and leaves v as it was.
func (d *decoder) decode(n *yaml.Node, path string, v reflect.Value) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		v = v.Elem()
	}
	if v.Type() == durationType {
		d.duration(n, path, v)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.mapping(n, path, v)
	case reflect.Slice:
		d.sequence(n, path, v, false)
	case reflect.Map:
		d.dict(n, path, v)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, path, "expected text, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
			d.errorf(n, path, "expected true or false, got %s", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		var i int64
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&i) != nil {
			msg := "expected a whole number, got %s"
			if n.Tag == "!!str" && strings.TrimLeft(n.Value, "0123456789") != n.Value {
				msg += " (sizes are written in bytes: 1048576, not 1MiB)"
			}
			d.errorf(n, path, msg, describe(n))
			return
		}
		if v.Kind() == reflect.Int && (i > math.MaxInt32 || i < math.MinInt32) {
			d.errorf(n, path, "%s is out of range", n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		var f float64
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") || n.Decode(&f) != nil {
			d.errorf(n, path, "expected a number, got %s", describe(n))
			return
		}
		v.SetFloat(f)
	default:
		panic("spec: no decoding for " + v.Type().String())
	}
}

// duration decodes a Duration, refusing bare numbers with the value a
// unit would make of them.
func (d *decoder) duration(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "expected a duration such as 5s or 1m30s, got %s", describe(n))
		return
	}
	if n.Tag == "!!int" || n.Tag == "!!float" {
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil && f == 0 {
			return // 0 needs no unit
		}
		d.errorf(n, path, "a duration needs a unit: did you mean %ss?", n.Value)
		return
	}
	t, err := time.ParseDuration(n.Value)
	if err != nil {
		d.errorf(n, path, "%q is not a duration such as 5s, 250ms or 1m30s", n.Value)
		return
	}
	if t < 0 {
		d.errorf(n, path, "must not be negative")
		return
	}
	v.SetInt(int64(t))
}

// sequence decodes a list; one defaults to a single scalar being the list
// of that one item (listen: tcp://... for listen: [tcp://...]).
func (d *decoder) sequence(n *yaml.Node, path string, v reflect.Value, one bool) {
	if n.Kind != yaml.SequenceNode {
		if one && n.Kind == yaml.ScalarNode {
			s := reflect.MakeSlice(v.Type(), 1, 1)
			d.decode(n, path, s.Index(0))
			v.Set(s)
			return
		}
		d.errorf(n, path, "expected a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.decode(item, fmt.Sprintf("%s[%d]", path, i), s.Index(i))
	}
	v.Set(s)
}

// dict decodes a mapping of names, such as upstreams.
func (d *decoder) dict(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping of names, got %s", describe(n))
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		p := join(path, k.Value)
		if line, dup := seen[k.Value]; dup {
			d.errorf(k, p, "given twice (first on line %d)", line)
			continue
		}
		seen[k.Value] = k.Line
		e := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, p, e)
		m.SetMapIndex(reflect.ValueOf(k.Value), e)
	}
	v.Set(m)
}

// field is a struct field of the schema and its key.
type field struct {
	key   string
	index int
	one   bool // a single scalar stands for a list of one
}

func fields(t reflect.Type) []field {
	var out []field
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if key == "" || key == "-" {
			continue
		}
		out = append(out, field{key: key, index: i, one: f.Tag.Get("spec") == "one"})
	}
	return out
}

// mapping decodes a struct of the schema: every key must be one of its
// fields, at most once.
func (d *decoder) mapping(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping (key: value), got %s", describe(n))
		return
	}
	fs := fields(v.Type())
	keys := make([]string, len(fs))
	for i, f := range fs {
		keys[i] = f.key
	}
	var renamed map[string]string
	if r, ok := v.Addr().Interface().(renamer); ok {
		renamed = r.renamed()
	}
	if vk, ok := v.Addr().Interface().(keyLister); ok {
		if ks := vk.validKeys(n); ks != nil {
			keys = ks
		}
	}
	lines := map[string]int{}
	var written []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		p := join(path, k.Value)
		if line, dup := lines[k.Value]; dup {
			d.errorf(k, p, "given twice (first on line %d)", line)
			continue
		}
		lines[k.Value] = k.Line
		written = append(written, k.Value)
		var f *field
		for j := range fs {
			if fs[j].key == k.Value {
				f = &fs[j]
			}
		}
		if f == nil {
			if hint, ok := renamed[k.Value]; ok {
				d.errorf(k, p, "unknown key: %s", hint)
			} else if near := nearest(k.Value, keys); near != "" {
				d.errorf(k, p, "unknown key: did you mean %s? (%s)", near, valid(keys))
			} else {
				d.errorf(k, p, "unknown key (%s)", valid(keys))
			}
			continue
		}
		fv := v.Field(f.index)
		if f.one {
			d.sequence(val, p, fv, true)
		} else {
			d.decode(val, p, fv)
		}
	}
	if r, ok := v.Addr().Interface().(keyRecorder); ok {
		r.setKeys(written, lines)
	}
}

func valid(keys []string) string {
	return "valid here: " + strings.Join(keys, ", ")
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// describe names what a node holds, for "expected X, got Y".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	v := n.Value
	if len(v) > 200 {
		v = v[:200] + "..."
	}
	switch n.Tag {
	case "!!str":
		return strconv.Quote(v)
	case "!!null":
		return "nothing"
	}
	return v
}
