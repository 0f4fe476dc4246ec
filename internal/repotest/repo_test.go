// Package repotest holds structural tests of the whole repository: every
// package is documented, files stay readable, and imports go in the
// direction DESIGN.md gives (domain packages import no adapters).
package repotest

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

type pkg struct {
	ImportPath string
	Dir        string
	Name       string
	Doc        string
	GoFiles    []string
	Imports    []string
	Deps       []string
}

const module = "github.com/s3kms/s3kms"

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func TestEveryPackageDocumented(t *testing.T) {
	for _, p := range listPackages(t) {
		if len(p.GoFiles) > 0 && strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no package doc comment", p.ImportPath)
		}
	}
}

// maxLines is the size past which a file should be split by concept.
const maxLines = 900

func TestFilesStayReadable(t *testing.T) {
	err := filepath.WalkDir("../..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		n := 0
		s := bufio.NewScanner(f)
		s.Buffer(make([]byte, 1<<20), 1<<20)
		for s.Scan() {
			n++
		}
		if n > maxLines {
			t.Errorf("%s has %d lines; split it by concept (limit %d)", path, n, maxLines)
		}
		return s.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestImportDirection checks that domain packages import no adapters.
func TestImportDirection(t *testing.T) {
	forbidden := map[string][]string{
		// The KMS domain knows only its own format package.
		module + "/kms": {module + "/api", module + "/storage", module + "/hsm", module + "/cmd", module + "/internal"},
		// The wire types stay a leaf so that clients do not link servers.
		module + "/api/wire": {module + "/"},
	}
	// Clients of the KMS must not link server-side dependencies.
	forbiddenDeps := map[string][]string{
		module + "/kms/kmsclient": {"github.com/go-chi/chi", "github.com/prometheus", module + "/storage", module + "/hsm"},
	}
	for _, p := range listPackages(t) {
		for _, bad := range forbidden[p.ImportPath] {
			for _, imp := range p.Imports {
				if strings.HasPrefix(imp, bad) && imp != p.ImportPath && !strings.HasPrefix(imp, module+"/kms/sealed") {
					t.Errorf("%s imports %s", p.ImportPath, imp)
				}
			}
		}
		for _, bad := range forbiddenDeps[p.ImportPath] {
			for _, dep := range p.Deps {
				if strings.HasPrefix(dep, bad) {
					t.Errorf("%s depends on %s", p.ImportPath, dep)
				}
			}
		}
	}
}
