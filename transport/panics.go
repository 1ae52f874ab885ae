package transport

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
)

// panics counts the panics recovered by Recovered.
var panics atomic.Uint64

// panicReporter is the func SetPanicReporter set.
var panicReporter atomic.Pointer[func(v any, stack []byte)]

// Panics returns how many panics Recovered has recorded: handlers, hooks,
// stages and loop tasks that panicked and cost their own connection or
// stream instead of the process. It is safe from any goroutine.
func Panics() uint64 { return panics.Load() }

// SetPanicReporter makes report get every panic Recovered records, with
// its stack (for an error reporter such as Sentry's SDK); nil stops it.
// report runs on the goroutine that recovered, often an event loop: it
// must hand the report off rather than block. It is safe from any
// goroutine.
func SetPanicReporter(report func(v any, stack []byte)) {
	if report == nil {
		panicReporter.Store(nil)
		return
	}
	panicReporter.Store(&report)
}

// Recovered records a panic that the caller has recovered (v is what
// recover returned): it is counted, logged at error level with msg, attrs
// and the stack, and handed to the panic reporter. Every package of
// Penstock that turns a panic into a closed connection or a reset stream
// calls it from its deferred recover, so that the stack is the panic's.
// It is safe from any goroutine.
func Recovered(log *slog.Logger, msg string, v any, attrs ...any) {
	panics.Add(1)
	stack := debug.Stack()
	if log == nil {
		log = slog.Default()
	}
	log.Error(msg, append(attrs, "panic", fmt.Sprint(v), "stack", string(stack))...)
	if r := panicReporter.Load(); r != nil {
		(*r)(v, stack)
	}
}
