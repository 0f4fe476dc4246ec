// Command configdoc writes the configuration reference, docs/config.md,
// from the code: option paths and types from the configuration structures
// of internal/config (as yaml.v3 sees them), defaults from DefaultKMS and
// DefaultS3, environment variables from config.Options, and descriptions
// from the fields' doc comments (parsed with go/ast).
//
//	go run ./internal/config/configdoc -src internal/config -o docs/config.md
//
// `make config-doc` and `go generate ./internal/config` run it; a test of
// this package fails when docs/config.md is out of date.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/s3kms/s3kms/internal/config"
)

func main() {
	src := flag.String("src", "internal/config", "directory of the config package's sources")
	out := flag.String("o", "docs/config.md", "file to write")
	flag.Parse()
	doc, err := Generate(*src)
	if err != nil {
		fmt.Fprintln(os.Stderr, "configdoc:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, doc, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "configdoc:", err)
		os.Exit(1)
	}
}

// service is one configuration structure and who reads it.
type service struct {
	title, anchor, intro string
	root                 string // Go type name
	prefix               string
	value                any // pointer to the defaults
}

func services() []service {
	k, s := config.DefaultKMS(), config.DefaultS3()
	return []service{
		{
			title:  "KMS (`s3kms kms serve`)",
			anchor: "kms",
			intro: "Read by `s3kms kms serve [--config FILE]`, `s3kms migrate --config FILE` and " +
				"`s3kms kms hsm init --config FILE`.",
			root: "KMS", prefix: config.KMSEnvPrefix, value: &k,
		},
		{
			title:  "S3 node (`s3kms s3 serve`)",
			anchor: "s3",
			intro: "Read by `s3kms s3 serve [--config FILE]`, `s3kms s3 user … --config FILE` and the " +
				"`s3kms admin key|job … --config FILE` commands that use the node's database.",
			root: "S3", prefix: config.S3EnvPrefix, value: &s,
		},
	}
}

// Row is one line of a service's table.
type Row struct {
	Path, Type, Default, Env, Description string
	Field                                 string // Go field path, for error messages
}

// Generate returns docs/config.md for the config package whose sources
// are in dir. It fails if an option has no doc comment.
func Generate(dir string) ([]byte, error) {
	docs, err := parseDocs(dir)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(header)
	var missing []string
	for _, svc := range services() {
		rows := rowsOf(svc, docs)
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\n", svc.title, svc.intro)
		b.WriteString("| option | type | default | environment variable | description |\n")
		b.WriteString("|---|---|---|---|---|\n")
		for _, r := range rows {
			if r.Description == "" {
				missing = append(missing, svc.root+"."+r.Field)
			}
			env := "file only"
			if r.Env != "" {
				env = "`" + r.Env + "`"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", r.Path, r.Type, r.Default, env, cell(r.Description))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("options without a doc comment on their field in %s: %s", dir, strings.Join(missing, ", "))
	}
	return b.Bytes(), nil
}

func rowsOf(svc service, docs *docIndex) []Row {
	var rows []Row
	for _, o := range config.Options(svc.value, svc.prefix) {
		r := Row{Path: o.Path, Type: o.Type, Env: o.Env, Field: o.Field,
			Default:     formatDefault(o.Value),
			Description: docs.describe(svc.root, strings.Split(o.Field, "."))}
		rows = append(rows, r)
		// Lists of structures: one row per field of an element.
		if t := o.Value.Type(); t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct {
			rows = append(rows, elemRows(docs, t.Elem(), o.Path+"[]", o.Field)...)
		}
	}
	return rows
}

// elemRows lists the fields of an element of a file-only list.
func elemRows(docs *docIndex, t reflect.Type, path, field string) []Row {
	var rows []Row
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		p := path + "." + name
		r := Row{Path: p, Type: typeName(f.Type), Default: "—", Field: t.Name() + "." + f.Name,
			Description: docs.describe(t.Name(), []string{f.Name})}
		rows = append(rows, r)
		if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct {
			rows = append(rows, elemRows(docs, f.Type.Elem(), p+"[]", r.Field)...)
		}
	}
	return rows
}

func typeName(t reflect.Type) string {
	if t.Kind() == reflect.Slice {
		return "list of " + typeName(t.Elem())
	}
	if t.Kind() == reflect.Struct {
		return strings.ToLower(t.Name())
	}
	return t.Kind().String()
}

func formatDefault(v reflect.Value) string {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "—"
		}
		v = v.Elem()
	}
	if v.Type() == reflect.TypeOf(time.Duration(0)) {
		return "`" + formatDuration(time.Duration(v.Int())) + "`"
	}
	switch v.Kind() {
	case reflect.String:
		if v.String() == "" {
			return "—"
		}
		return "`" + v.String() + "`"
	case reflect.Slice, reflect.Map:
		if v.Len() == 0 {
			return "—"
		}
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String {
			var s []string
			for i := 0; i < v.Len(); i++ {
				s = append(s, v.Index(i).String())
			}
			return "`" + strings.Join(s, ",") + "`"
		}
		return fmt.Sprintf("%d entries", v.Len())
	}
	return fmt.Sprintf("`%v`", v.Interface())
}

// formatDuration writes d as an operator would: 1h, 5m, 90s, 1h30m.
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// cell makes a description fit in a table cell.
func cell(s string) string {
	return strings.ReplaceAll(s, "|", `\|`)
}

// docIndex holds the struct types of the config package as go/ast sees
// them.
type docIndex struct {
	types map[string]*ast.StructType
}

func parseDocs(dir string) (*docIndex, error) {
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	idx := &docIndex{types: map[string]*ast.StructType{}}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if ts, ok := n.(*ast.TypeSpec); ok {
				if st, ok := ts.Type.(*ast.StructType); ok {
					idx.types[ts.Name.Name] = st
				}
			}
			return true
		})
	}
	if len(idx.types) == 0 {
		return nil, fmt.Errorf("no struct types in %s", dir)
	}
	return idx, nil
}

// describe returns the doc comment of the field at path (Go field names)
// from the struct type named root, rewritten for operators: the sibling
// fields' Go names become their YAML keys, and a leading "Key is" goes.
func (d *docIndex) describe(root string, path []string) string {
	st := d.types[root]
	for len(path) > 0 && st != nil {
		var field *ast.Field
		var prevDoc string // doc of the nearest documented field before
		for _, f := range st.Fields.List {
			if fieldName(f) == path[0] {
				field = f
				break
			}
			if d := docText(f); d != "" {
				prevDoc = d
			} else if !strings.Contains(prevDoc, fieldName(f)) {
				prevDoc = ""
			}
		}
		if field == nil {
			return ""
		}
		if len(path) > 1 {
			switch t := field.Type.(type) {
			case *ast.Ident:
				st = d.types[t.Name]
			case *ast.StructType:
				st = t
			default:
				return ""
			}
			path = path[1:]
			continue
		}
		text := docText(field)
		// "A and B are …" documents B (and C after it) on A: use the
		// comment of the documented field before if it names this one.
		if text == "" && regexp.MustCompile(`\b`+path[0]+`\b`).MatchString(prevDoc) {
			text = prevDoc
		}
		return operatorText(text, st, path[0])
	}
	return ""
}

func fieldName(f *ast.Field) string {
	if len(f.Names) > 0 {
		return f.Names[0].Name
	}
	if id, ok := f.Type.(*ast.Ident); ok { // embedded
		return id.Name
	}
	return ""
}

func docText(f *ast.Field) string {
	g := f.Doc
	if g == nil {
		g = f.Comment
	}
	if g == nil {
		return ""
	}
	return strings.Join(strings.Fields(g.Text()), " ")
}

var leadingPair = regexp.MustCompile(`^([A-Z][A-Za-z0-9]*) and ([A-Z][A-Za-z0-9]*) `)

// camel reports whether a Go field name is a CamelCase identifier
// (MasterKeyFile, PINEnv) rather than a word that prose also uses (Key,
// TLS, Domain): only those are rewritten into YAML keys.
func camel(n string) bool {
	upper, lower := 0, 0
	for _, r := range n {
		if unicode.IsUpper(r) {
			upper++
		} else if unicode.IsLower(r) {
			lower++
		}
	}
	return upper >= 2 && lower >= 1
}

// operatorText replaces Go field names of st by their YAML keys and drops
// a leading "`key` is " that names the option itself.
func operatorText(text string, st *ast.StructType, self string) string {
	if text == "" {
		return ""
	}
	keys := map[string]string{}
	var names []string
	for _, f := range st.Fields.List {
		n := fieldName(f)
		if n == "" || f.Tag == nil {
			continue
		}
		tag := reflect.StructTag(strings.Trim(f.Tag.Value, "`")).Get("yaml")
		k, _, _ := strings.Cut(tag, ",")
		if k == "" || k == "-" {
			continue
		}
		keys[n] = k
		if camel(n) {
			names = append(names, n)
		}
	}
	// "Cert and Key are …": a leading pair of sibling names, however
	// plain, names options.
	if m := leadingPair.FindStringSubmatch(text); m != nil && keys[m[1]] != "" && keys[m[2]] != "" {
		text = "`" + keys[m[1]] + "` and `" + keys[m[2]] + "`" + text[len(m[1])+len(" and ")+len(m[2]):]
	}
	sort.Slice(names, func(i, j int) bool { return len(names[i]) > len(names[j]) })
	for _, n := range names {
		text = regexp.MustCompile(`\b`+n+`\b`).ReplaceAllString(text, "`"+keys[n]+"`")
	}
	if k, ok := keys[self]; ok {
		for _, lead := range []string{self + " is ", self + " are ", "`" + k + "` is ", "`" + k + "` are ", self + " ", "`" + k + "` "} {
			if strings.HasPrefix(text, lead) && !strings.HasPrefix(text, lead+"and ") {
				text = strings.TrimPrefix(text, lead)
				break
			}
		}
	}
	r := []rune(text)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

const header = `# Configuration reference

<!-- Generated by internal/config/configdoc from the code: do not edit.
     Run ` + "`make config-doc`" + ` after changing an option. -->

Each service reads one YAML file (` + "`--config FILE`" + `) over built-in defaults,
then environment variables over both: **default < file < environment**. The
result is validated as a whole, so a value from the environment is checked as
one from the file would be.

**The file.** Unknown keys are errors, so that a typo does not silently leave a
default in place. Any string value may reference an environment variable as
` + "`${NAME}`" + ` (` + "`$$`" + ` for a literal ` + "`$`" + `); an unset variable is an error.
References are expanded after parsing, so a variable's content never changes the
file's structure. Keep secrets (the PostgreSQL password, the master key) out of
the file this way, or in files readable only by the service user.

**The environment.** Every option below that has an environment variable can be
set by it: the service's prefix (` + "`S3KMS_KMS_CONFIG_`" + ` for the KMS,
` + "`S3KMS_S3_CONFIG_`" + ` for the S3 node), then the option's path upper-cased
with ` + "`_`" + ` between segments: ` + "`store.dsn`" + ` of the KMS is
` + "`S3KMS_KMS_CONFIG_STORE_DSN`" + `, ` + "`encryption.default_sse_s3`" + ` of the
S3 node is ` + "`S3KMS_S3_CONFIG_ENCRYPTION_DEFAULT_SSE_S3`" + `.

- Values are taken literally (no ` + "`${NAME}`" + ` expansion). Booleans are
  ` + "`true`/`false`" + ` (or ` + "`1`/`0`" + `); durations are Go durations
  (` + "`90s`, `5m`, `1h30m`" + `); lists are comma-separated
  (` + "`10.0.0.0/8,192.0.2.1`" + `; an empty value is an empty list). A variable set
  to the empty string sets the option to empty: unset it to keep the file's value.
- Lists of structures (` + "`policies`" + `) can only be set in the file; on the KMS,
  ` + "`policy_file`" + ` (which the environment can set) names a file of more policies.
- Any other variable with one of the two prefixes is an error naming it, and so is
  a value that does not parse; errors name the variable, never its value, and the
  services never log values from the environment.
- The prefixes end in ` + "`CONFIG_`" + ` so that they never collide with the
  variables the clients use (` + "`S3KMS_KMS_ENDPOINT`" + `, ` + "`S3KMS_S3_ENDPOINT`" + `,
  ` + "`S3KMS_S3_ADMIN_ENDPOINT`" + ` from ` + "`dev.env`" + `) or with
  ` + "`${S3KMS_KMS_DSN}`" + `-style references in the example files.
- ` + "`s3kms kms serve`" + ` and ` + "`s3kms s3 serve`" + ` accept no ` + "`--config`" + ` at all
  when the environment supplies everything the defaults lack (containers); the
  other commands require ` + "`--config`" + `. ` + "`s3kms dev`" + ` reads neither.

Durations written ` + "`0`" + ` mean "off" where the description says so. Defaults
marked — are empty.
`
