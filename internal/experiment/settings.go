package experiment

import (
	"encoding"
	"fmt"
	"reflect"
)

// Settings returns a kind's settings as an experiment file writes them:
// by their keys, values in the file's syntax (300ms, 50%), keys left at
// their zero value left out. Plans show them so.
func Settings(v any) any { return settingsValue(reflect.ValueOf(v)) }

var textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()

func settingsValue(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	switch {
	case v.Type() == durationType:
		return Duration(v.Int()).String()
	case v.Type().Implements(textMarshalerType):
		if v.Kind() == reflect.Pointer && v.IsNil() {
			return nil
		}
		b, err := v.Interface().(encoding.TextMarshaler).MarshalText()
		if err != nil {
			return nil
		}
		return string(b)
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return settingsValue(v.Elem())
	case reflect.Struct:
		m := map[string]any{}
		for _, f := range fieldsOf(v.Type()) {
			if fv := v.FieldByIndex(f.index); !fv.IsZero() {
				m[f.key] = settingsValue(fv)
			}
		}
		return m
	case reflect.Slice:
		l := make([]any, v.Len())
		for i := range l {
			l[i] = settingsValue(v.Index(i))
		}
		return l
	case reflect.Map:
		m := map[string]any{}
		for _, k := range v.MapKeys() {
			m[fmt.Sprint(k.Interface())] = settingsValue(v.MapIndex(k))
		}
		return m
	}
	return v.Interface()
}
