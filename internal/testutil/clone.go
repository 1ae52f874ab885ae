package testutil

import (
	"reflect"
	"testing"
)

// RequireCloned checks that clone, made by a Clone method from orig, has
// every exported field of orig: it fills each exported field of a new
// value with something that is not its zero value, clones it, and
// compares field by field (funcs by their code pointer). A field added to
// the type and forgotten by its Clone fails here. T must be a struct;
// preset, when not nil, fills the fields fill cannot (interfaces with
// methods) before the rest are filled.
func RequireCloned[T any](t testing.TB, clone func(*T) *T, preset func(*T)) {
	t.Helper()
	orig := new(T)
	if preset != nil {
		preset(orig)
	}
	v := reflect.ValueOf(orig).Elem()
	typ := v.Type()
	for i := range typ.NumField() {
		if typ.Field(i).IsExported() && v.Field(i).IsZero() {
			fill(t, v.Field(i), typ.Field(i).Name)
		}
	}
	c := reflect.ValueOf(clone(orig)).Elem()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if !f.IsExported() {
			continue
		}
		a, b := v.Field(i), c.Field(i)
		if f.Type.Kind() == reflect.Func {
			if a.Pointer() != b.Pointer() {
				t.Errorf("%s.Clone leaves out %s", typ.Name(), f.Name)
			}
			continue
		}
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			t.Errorf("%s.Clone leaves out %s", typ.Name(), f.Name)
		}
	}
}

// fill sets v to a value that is not its type's zero value.
func fill(t testing.TB, v reflect.Value, name string) {
	t.Helper()
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(7)
	case reflect.String:
		v.SetString("x")
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
	case reflect.Func:
		v.Set(reflect.MakeFunc(v.Type(), func([]reflect.Value) []reflect.Value { panic("not called") }))
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(t, v.Field(i), name+"."+v.Type().Field(i).Name)
			}
		}
	case reflect.Interface:
		if v.NumMethod() == 0 {
			v.Set(reflect.ValueOf(7))
			return
		}
		t.Fatalf("RequireCloned: cannot fill interface field %s: set it in preset", name)
	default:
		t.Fatalf("RequireCloned: cannot fill field %s of kind %s", name, v.Kind())
	}
}
