package httpproxy

import (
	"errors"
	"fmt"

	"github.com/penstock-proxy/penstock/l7/httpd"
)

// Source says which side of the proxy a failure came from.
type Source uint8

const (
	// Internal is the proxy itself: a hook's error, a missing endpoint.
	Internal Source = iota
	// Downstream is the client: its request, its body, its connection.
	Downstream
	// Upstream is the server the request went to, or its connect.
	Upstream
)

// String names s. Safe from any goroutine.
func (s Source) String() string {
	switch s {
	case Downstream:
		return "downstream"
	case Upstream:
		return "upstream"
	}
	return "internal"
}

// Kind is what failed, in terms no wire protocol owns, so that an HTTP/2
// or gRPC proxy maps its own faults onto the same kinds and the same
// [Decide].
type Kind uint8

const (
	// KindInternal is a fault of the proxy's own making (a hook's error).
	KindInternal Kind = iota
	// KindNoRoute: no route or group serves the request.
	KindNoRoute
	// KindNotProxied: the request asks for what the proxy does not do
	// (CONNECT).
	KindNotProxied
	// KindNoUpstream: the group has no endpoint left to try.
	KindNoUpstream
	// KindConnect: a connect to an endpoint failed; nothing was sent.
	KindConnect
	// KindClosed: the upstream connection closed or failed a write
	// before the response ended.
	KindClosed
	// KindTimeout: the upstream sent nothing for too long.
	KindTimeout
	// KindBadResponse: the upstream's response is malformed.
	KindBadResponse
	// KindClientClosed: the client went away before the response ended.
	KindClientClosed
	// KindClientBody: the client's request body timed out or went bad
	// (the server answers it itself).
	KindClientBody
)

var kindNames = [...]string{"internal", "no route", "not proxied", "no upstream", "connect",
	"closed", "timeout", "bad response", "client closed", "client body"}

// String names k. Safe from any goroutine.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// RetrySafety says whether the request may be sent again after a failure.
type RetrySafety uint8

const (
	// RetryUnsafe: sending the request again could repeat its effect (a
	// non-idempotent request some of whose body reached the upstream), or
	// the proxy cannot send it again (its body is gone), or the response
	// has started.
	RetryUnsafe RetrySafety = iota
	// RetrySafe: nothing of the request reached an upstream, or it is
	// idempotent and the proxy can send it whole again.
	RetrySafe
)

// String names r ("safe" or "unsafe"). Safe from any goroutine.
func (r RetrySafety) String() string {
	if r == RetrySafe {
		return "safe"
	}
	return "unsafe"
}

// Error is a session's failure: where it came from, what it was, and
// whether a retry is safe. Err is the underlying error, which matches the
// package's sentinel errors (ErrUpstreamTimeout, ErrUpstreamClosed,
// ErrBadResponse, ErrNoRoute, ErrConnect), l4.ErrNoUpstream, the server's
// (httpd.ErrBodyTimeout, httpd.ErrClientClosed) or a *ClientClosedError
// through errors.Is and errors.As. Error returns Err's text unchanged.
//
// The hooks FailToConnect and ErrorWhileProxy, and Logging, get a *Error.
// An Error is a value: safe from any goroutine once made.
type Error struct {
	Source Source
	Kind   Kind
	Retry  RetrySafety
	Err    error
}

// Error returns Err's text. Safe from any goroutine.
func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns Err. Safe from any goroutine.
func (e *Error) Unwrap() error { return e.Err }

// Status is the status a failure is answered with while no response byte
// has gone downstream: 404 for KindNoRoute, 501 for KindNotProxied, 504
// for KindTimeout, 408 for KindClientBody that timed out, 400 for another
// KindClientBody, 499 (nobody to answer) for KindClientClosed, and 502
// otherwise. Safe from any goroutine.
func (e *Error) Status() int {
	switch e.Kind {
	case KindNoRoute:
		return 404
	case KindNotProxied:
		return 501
	case KindTimeout:
		return 504
	case KindClientClosed:
		return 499
	case KindClientBody:
		if errors.Is(e.Err, httpd.ErrBodyTimeout) {
			return 408
		}
		return 400
	}
	return 502
}

// Decide is the error policy, the one place a failure becomes an answer:
// the status to answer e with (e.Status()), and whether the request is
// tried again instead. want is what the hook, or the default, asks for;
// retries is how many retries the request has had under the limit that
// governs e's kind (MaxConnectRetries for KindConnect, MaxReuseRetries for
// the others), and limit is that limit. A retry is allowed only for an
// Upstream failure that is RetrySafe, wanted, and within the limit: a hook
// that asks for more is refused. Safe from any goroutine.
func Decide(e *Error, want bool, retries, limit int) (status int, retry bool) {
	retry = want && e.Source == Upstream && e.Retry == RetrySafe && retries < limit
	return e.Status(), retry
}

// newError wraps err (already an *Error: returned as it is).
func newError(src Source, kind Kind, retry RetrySafety, err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Source: src, Kind: kind, Retry: retry, Err: err}
}
