package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/penstock-proxy/penstock/internal/spec"
)

// ParseConfig reads a config file, a file of pipelines in the schema of
// internal/spec (the one pipegen reads), and checks everything the daemon
// would refuse before it binds a port: the schema's checks, then what only
// the daemon knows (the handler types compiled into it, access log
// directories), then the build of every pipeline without binding. name
// labels errors. Problems come back as spec.Errors, every one at once,
// each naming the file, the line and the key path.
func ParseConfig(name string, data []byte) (*spec.Plan, error) {
	plan, err := spec.Parse(name, data)
	if err != nil {
		return nil, err
	}
	var errs spec.Errors
	for _, pl := range plan.Pipelines {
		for i, k := range pl.Shape.Kinds {
			sp := fmt.Sprintf("%s.stages[%d]", pl.Path, i)
			switch k {
			case "handle":
				if handlers[pl.Shape.HandlerType] == nil {
					errs = append(errs, plan.Errorf(sp+".type", "%q is not compiled into the daemon (it has: %s); generate this pipeline with pipegen and build it into your program",
						pl.Shape.HandlerType, handlerNames()))
				}
			case "http_proxy":
				if pl.Values.HTTP.AccessLog == "syslog" && plan.Daemon.Syslog == "" {
					errs = append(errs, plan.Errorf(sp+".access_log", "syslog needs log.syslog: where to send the lines"))
				}
				if dest := pl.Values.HTTP.AccessLog; dest != "" && dest != "stdout" && dest != "stderr" && dest != "syslog" {
					if fi, err := os.Stat(filepath.Dir(dest)); err != nil || !fi.IsDir() {
						errs = append(errs, plan.Errorf(sp+".access_log", "the directory of %q does not exist", dest))
					}
				}
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	// What the runtime packages would refuse, found now rather than at run.
	if _, err := build(plan, quiet, nil, nil, nil); err != nil {
		return nil, err
	}
	return plan, nil
}

// asErrors returns err's spec.Errors, or nil.
func asErrors(err error) spec.Errors {
	var es spec.Errors
	if errors.As(err, &es) {
		return es
	}
	return nil
}
