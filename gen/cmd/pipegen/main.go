// Command pipegen generates the Go code of a pipeline from its spec. It is
// meant for go generate:
//
//	//go:generate go run github.com/penstock-proxy/penstock/gen/cmd/pipegen -spec tcp_relay.yaml
//
// It writes zz_<name>.go next to the spec (or -out), and exits 1 listing
// every problem of a broken spec, each with its line and key path.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/penstock-proxy/penstock/gen"
)

func main() {
	spec := flag.String("spec", "", "pipeline spec file (YAML or JSON)")
	out := flag.String("out", "", "output file (default: zz_<spec base name>.go beside the spec)")
	check := flag.Bool("check", false, "only validate the file, as penstock check does (it may hold several pipelines)")
	flag.Parse()
	if *spec == "" {
		fmt.Fprintln(os.Stderr, "pipegen: -spec FILE is required")
		os.Exit(2)
	}
	if err := run(*spec, *out, *check); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(spec, out string, check bool) error {
	data, err := os.ReadFile(spec)
	if err != nil {
		return err
	}
	if check {
		return gen.Check(filepath.Base(spec), data)
	}
	dir, err := filepath.Abs(filepath.Dir(spec))
	if err != nil {
		return err
	}
	importPath, err := importPathOf(dir)
	if err != nil {
		return err
	}
	src, err := gen.Generate(filepath.Base(spec), data, importPath)
	if err != nil {
		return err
	}
	if out == "" {
		base := strings.TrimSuffix(filepath.Base(spec), filepath.Ext(spec))
		out = filepath.Join(filepath.Dir(spec), "zz_"+base+".go")
	}
	if old, err := os.ReadFile(out); err == nil && bytes.Equal(old, src) {
		return nil
	}
	return os.WriteFile(out, src, 0o644)
}

// importPathOf derives a directory's import path from the go.mod above it.
func importPathOf(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		data, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil {
			for _, line := range strings.Split(string(data), "\n") {
				if mod, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
					rel, err := filepath.Rel(d, dir)
					if err != nil {
						return "", err
					}
					mod = strings.Trim(strings.TrimSpace(mod), `"`)
					if rel == "." {
						return mod, nil
					}
					return mod + "/" + filepath.ToSlash(rel), nil
				}
			}
			return "", errors.New("pipegen: go.mod has no module line")
		}
		if filepath.Dir(d) == d {
			return "", errors.New("pipegen: no go.mod above " + dir)
		}
	}
}
