package openapi2mcp_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy/openapi2mcp"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/openapi2mcp")

const testdata = "../testdata/openapi2mcp"

// TestOpenAPIGolden turns every spec of testdata/openapi2mcp into tools
// and compares them with <name>.tools.json beside it.
func TestOpenAPIGolden(t *testing.T) {
	specs, err := filepath.Glob(filepath.Join(testdata, "*"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, path := range specs {
		if strings.HasSuffix(path, ".tools.json") {
			continue
		}
		n++
		name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		t.Run(name, func(t *testing.T) {
			got := toolsJSON(t, path)
			golden := filepath.Join(testdata, name+".tools.json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to write it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("tools of %s differ from %s (run with -update to rewrite):\n%s", path, golden, got)
			}
		})
	}
	if n < 8 {
		t.Errorf("found %d specs in %s, want at least 8", n, testdata)
	}
}

// toolsJSON returns the indented tool list of the spec at path, with a
// fixed base URL.
func toolsJSON(tb testing.TB, path string) []byte {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	spec, err := openapi2mcp.Parse(data)
	if err != nil {
		tb.Fatalf("parse %s: %v", path, err)
	}
	ts, err := openapi2mcp.New(spec, openapi2mcp.Options{BaseURL: "https://api.example.com/base"})
	if err != nil {
		tb.Fatalf("new %s: %v", path, err)
	}
	out, err := json.MarshalIndent(ts.Tools(), "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	return append(out, '\n')
}
