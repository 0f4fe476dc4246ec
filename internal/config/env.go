package config

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Environment overrides. Every scalar option of a configuration (strings,
// booleans, integers, floats, durations, and lists of those as
// comma-separated values) can be set by an environment variable named
// after its YAML path: the prefix, then the path's segments upper-cased
// and joined by "_" (store.dsn of `kms serve` is S3KMS_KMS_CONFIG_STORE_DSN,
// encryption.default_sse_s3 of `s3 serve` is
// S3KMS_S3_CONFIG_ENCRYPTION_DEFAULT_SSE_S3). A variable wins over the
// file, which wins over the default. Lists of structures (policies) are
// file-only.
//
// The prefixes end in CONFIG_ so that they cannot collide with the other
// S3KMS_* variables the program and its users already have: the admin
// client's S3KMS_KMS_ENDPOINT, dev.env's S3KMS_S3_ENDPOINT and
// S3KMS_S3_ADMIN_ENDPOINT, and ${S3KMS_KMS_DSN}-style references in
// configuration files. Any other variable with one of these prefixes is an
// error, so that a misspelt name does not silently leave the default.
const (
	KMSEnvPrefix = "S3KMS_KMS_CONFIG_"
	S3EnvPrefix  = "S3KMS_S3_CONFIG_"
)

// Option is one leaf option of a configuration structure.
type Option struct {
	// Path is the YAML path, segments joined by ".": "store.dsn".
	Path string
	// Env is the environment variable that sets it; empty for file-only
	// options (lists of structures, maps).
	Env string
	// Type names the option's type for people: string, bool, int, float,
	// duration, list of string, list of policy…
	Type string
	// Field is the Go field path from the root structure ("Store.DSN"),
	// for the documentation generator to find the field's comment.
	Field string
	// Value is the option in the structure Options was given.
	Value reflect.Value
}

// Options lists the leaf options of the configuration structure v points
// to, in field order, each with its environment variable under prefix.
// It panics if two options would have the same variable (say a.b_c and
// a_b.c), which TestOptionsUnique catches for every service.
func Options(v any, prefix string) []Option {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		panic("config.Options: need a pointer to a struct")
	}
	var out []Option
	walk(rv.Elem(), "", "", prefix, &out)
	seen := map[string]string{}
	for _, o := range out {
		if o.Env == "" {
			continue
		}
		if p, dup := seen[o.Env]; dup {
			panic(fmt.Sprintf("config: options %s and %s both map to %s", p, o.Path, o.Env))
		}
		seen[o.Env] = o.Path
	}
	return out
}

var durationType = reflect.TypeOf(time.Duration(0))

func walk(v reflect.Value, path, field, prefix string, out *[]Option) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, inline := yamlName(f)
		if name == "-" {
			continue
		}
		fv := v.Field(i)
		gofield := join(field, f.Name, ".")
		if inline {
			walk(fv, path, gofield, prefix, out)
			continue
		}
		p := join(path, name, ".")
		ft := f.Type
		if ft.Kind() == reflect.Struct && ft != durationType {
			walk(fv, p, gofield, prefix, out)
			continue
		}
		o := Option{Path: p, Field: gofield, Value: fv, Type: typeName(ft)}
		if settable(ft) {
			o.Env = prefix + strings.ToUpper(strings.ReplaceAll(p, ".", "_"))
		}
		*out = append(*out, o)
	}
}

func join(a, b, sep string) string {
	if a == "" {
		return b
	}
	return a + sep + b
}

// yamlName returns the key yaml.v3 uses for f, and whether f is inlined.
func yamlName(f reflect.StructField) (string, bool) {
	tag := f.Tag.Get("yaml")
	name, opts, _ := strings.Cut(tag, ",")
	for _, o := range strings.Split(opts, ",") {
		if o == "inline" {
			return "", true
		}
	}
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return name, false
}

// scalar reports whether an environment variable can hold a value of t.
func scalar(t reflect.Type) bool {
	if t == durationType {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

func settable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer:
		return scalar(t.Elem())
	case reflect.Slice:
		return scalar(t.Elem())
	}
	return scalar(t)
}

func typeName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "duration"
	case t.Kind() == reflect.Pointer:
		return typeName(t.Elem())
	case t.Kind() == reflect.Slice:
		return "list of " + typeName(t.Elem())
	case t.Kind() == reflect.Map:
		return "map of " + typeName(t.Key()) + " to " + typeName(t.Elem())
	case t.Kind() == reflect.Struct:
		return strings.ToLower(t.Name())
	case t.Kind() == reflect.Bool || t.Kind() == reflect.String:
		return t.Kind().String()
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		return "int"
	case t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64:
		return "uint"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "float"
	}
	return t.String()
}

// ApplyEnv sets the options of the configuration structure v points to
// from the variables of environ ("NAME=value" entries, as os.Environ) whose
// names start with prefix. Values are taken literally (no ${NAME}
// expansion); lists are comma-separated, with spaces around items trimmed
// and an empty value meaning an empty list. A variable with the prefix
// that names no option, or a file-only one, is an error, as is a value
// that does not parse; errors name the variable, never its value. It
// returns the names of the variables it applied, sorted.
func ApplyEnv(v any, prefix string, environ []string) ([]string, error) {
	opts := Options(v, prefix)
	byEnv := map[string]Option{}
	fileOnly := map[string]string{}
	for _, o := range opts {
		if o.Env != "" {
			byEnv[o.Env] = o
		} else {
			fileOnly[prefix+strings.ToUpper(strings.ReplaceAll(o.Path, ".", "_"))] = o.Path
		}
	}
	var applied, errs []string
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, prefix) {
			continue
		}
		o, known := byEnv[name]
		if !known {
			if p, ok := fileOnly[name]; ok {
				errs = append(errs, fmt.Sprintf("%s: %s can only be set in the configuration file", name, p))
			} else {
				errs = append(errs, fmt.Sprintf("%s names no option (variables with the prefix %s set options; see docs/config.md)", name, prefix))
			}
			continue
		}
		if err := setValue(o.Value, val); err != nil {
			errs = append(errs, fmt.Sprintf("%s (%s): %v", name, o.Path, err))
			continue
		}
		applied = append(applied, name)
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return nil, fmt.Errorf("config: environment: %s", strings.Join(errs, "; "))
	}
	sort.Strings(applied)
	return applied, nil
}

// setValue parses s into v. Its errors never quote s: the value may be a
// secret (a DSN with a password).
func setValue(v reflect.Value, s string) error {
	t := v.Type()
	switch {
	case t == durationType:
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("not a duration (such as 90s, 5m, 1h30m)")
		}
		v.SetInt(int64(d))
		return nil
	case t.Kind() == reflect.Pointer:
		p := reflect.New(t.Elem())
		if err := setValue(p.Elem(), s); err != nil {
			return err
		}
		v.Set(p)
		return nil
	case t.Kind() == reflect.Slice:
		if strings.TrimSpace(s) == "" {
			v.Set(reflect.MakeSlice(t, 0, 0))
			return nil
		}
		parts := strings.Split(s, ",")
		sl := reflect.MakeSlice(t, len(parts), len(parts))
		for i, p := range parts {
			if err := setValue(sl.Index(i), strings.TrimSpace(p)); err != nil {
				return fmt.Errorf("item %d: %v", i+1, err)
			}
		}
		v.Set(sl)
		return nil
	}
	switch t.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("not a boolean (true or false)")
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, t.Bits())
		if err != nil {
			return fmt.Errorf("not an integer (of %d bits)", t.Bits())
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(strings.TrimSpace(s), 10, t.Bits())
		if err != nil {
			return fmt.Errorf("not a non-negative integer (of %d bits)", t.Bits())
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), t.Bits())
		if err != nil {
			return fmt.Errorf("not a number")
		}
		v.SetFloat(f)
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}
