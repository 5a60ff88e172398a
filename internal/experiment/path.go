package experiment

import (
	"path/filepath"
	"reflect"
)

// Path is a file path in an experiment file. A relative one is taken from
// the experiment file's directory, not from where chaos runs, so that a
// file means the same wherever it is run from; the loader makes it
// absolute. Settings of any kind use Path for the paths they take.
type Path string

// String returns the path.
func (p Path) String() string { return string(p) }

// JSONSchema describes a path.
func (Path) JSONSchema() map[string]any {
	return map[string]any{"type": "string", "title": "path", "description": "a file path; a relative one is taken from the experiment file's directory"}
}

var (
	pathType    = reflect.TypeFor[Path]()
	execType    = reflect.TypeFor[Exec]()
	serviceType = reflect.TypeFor[Service]()
)

// CommandSettings is implemented by the settings of a kind that runs a
// command, such as an exec load stream: the loader gives it the
// experiment file's directory, where its command runs unless the settings
// name a directory of their own.
type CommandSettings interface {
	DefaultDir(dir Path)
}

// resolvePaths makes every Path under v absolute against dir, the
// experiment file's directory, and runs the commands of services and exec
// steps and probes there unless they name a directory of their own.
func resolvePaths(v reflect.Value, dir string) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.Kind() == reflect.Pointer && !v.IsNil() {
			if c, ok := v.Interface().(CommandSettings); ok {
				c.DefaultDir(Path(dir))
			}
		}
		if !v.IsNil() {
			resolvePaths(v.Elem(), dir)
		}
	case reflect.Slice:
		for i := range v.Len() {
			resolvePaths(v.Index(i), dir)
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			if e := v.MapIndex(k); e.Kind() == reflect.Pointer {
				resolvePaths(e, dir)
			}
		}
	case reflect.Struct:
		if (v.Type() == execType || v.Type() == serviceType) && v.CanSet() {
			if d := v.FieldByName("Dir"); d.String() == "" {
				d.SetString(dir)
			}
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				resolvePaths(v.Field(i), dir)
			}
		}
	case reflect.String:
		if p := v.String(); v.Type() == pathType && v.CanSet() && p != "" && !filepath.IsAbs(p) {
			v.SetString(filepath.Join(dir, p))
		}
	}
}

// fileDir is the absolute directory of an experiment file.
func fileDir(file string) string {
	dir, err := filepath.Abs(filepath.Dir(file))
	if err != nil {
		return filepath.Dir(file)
	}
	return dir
}
