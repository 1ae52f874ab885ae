// Package gen is pipegen: it generates the Go code of a pipeline from its
// spec. The spec is read and checked by internal/spec, the schema the
// penstock daemon reads its config with too; gen turns the checked Plan
// into one concrete Go struct per pipeline whose stages are value fields
// called directly, with no interface call per frame and no reflection.
// Users run it through go generate; docs/config.md is the reference of the
// file format and docs/pipeline-spec.md of generating code from it.
//
// gen imports no runtime package of Penstock: it knows the stages by name
// and emits code that uses them. Its functions are safe from any
// goroutine.
package gen

import (
	"fmt"
	"path"
	"strings"

	"github.com/penstock-proxy/penstock/internal/spec"
)

// Error is one problem in a spec: file, line, key path and what is wrong.
// It is the schema's error type, the one the daemon reports too.
type Error = spec.Error

// Errors is every problem found in a spec, in line order.
type Errors = spec.Errors

// Check reads and checks a file as the daemon would (a file may hold
// several pipelines), without generating code.
func Check(file string, data []byte) error {
	_, err := spec.Parse(file, data)
	return err
}

// view is what the template needs of a pipeline: its checked plan and
// what pipegen resolved for the generated file.
type view struct {
	*spec.Pipeline
	SpecFile string
	// Groups are the upstream groups the pipeline uses.
	Groups []*spec.Group
	// Handler is the handle stage's type as the generated file names it.
	Handler string
	Imports []importPlan
}

type importPlan struct {
	Alias, Path string
}

// runtime is where the generated code's imports live.
const runtime = "github.com/penstock-proxy/penstock/"

// resolve applies the checks that only pipegen makes (a file for it holds
// one pipeline, which must be one it can generate) and fills the view.
func resolve(plan *spec.Plan, importPath string) (*view, Errors) {
	var errs Errors
	if len(plan.Pipelines) != 1 {
		return nil, Errors{plan.Errorf("pipelines", "pipegen generates one pipeline per file and this one has %d: give each its own file (penstock run takes several)", len(plan.Pipelines))}
	}
	pl := plan.Pipelines[0]
	v := &view{Pipeline: pl, SpecFile: plan.File}
	for _, name := range pl.Values.Groups {
		v.Groups = append(v.Groups, plan.Group(name))
	}
	for i, k := range pl.Shape.Kinds {
		sp := fmt.Sprintf("%s.stages[%d]", pl.Path, i)
		switch {
		case k == "serve":
			errs = append(errs, plan.Errorf(sp+".kind", "serve runs the penstock daemon's built-in services; generated code serves frames with handle"))
		case k == "http_proxy" && pl.Values.HTTP.AccessLog != "":
			errs = append(errs, plan.Errorf(sp+".access_log", "the penstock daemon writes access logs; in generated code set Pipeline.Proxy.Logging"))
		case k == "handle":
			pkgPath, name := spec.GoType(pl.Shape.HandlerType)
			if pkgPath == "" || pkgPath == importPath {
				v.Handler = name
				break
			}
			alias := "handler" + strings.NewReplacer("-", "", ".", "").Replace(path.Base(pkgPath))
			v.Imports = append(v.Imports, importPlan{alias, pkgPath})
			v.Handler = alias + "." + name
		}
	}
	for _, im := range imports(v) {
		name := im.Alias
		if name == "" {
			name = path.Base(im.Path)
		}
		if name == pl.Shape.Package {
			key := pl.Path + ".package"
			if !plan.Written(key) {
				key = pl.Path + ".name" // the package is the name's default
			}
			errs = append(errs, plan.Errorf(key, "package %s has the name of %s, which the generated code imports: choose another package name, such as %spipe",
				pl.Shape.Package, im.Path, pl.Shape.Package))
		}
	}
	return v, errs
}
