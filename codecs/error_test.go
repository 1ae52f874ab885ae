package codecs_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/penstock-proxy/penstock/codecs"
)

var (
	errClass = errors.New("test: malformed")
	errCause = codecs.NewError("test: malformed: bad length", errClass)
	errBoth  = codecs.NewError("test: too large", errClass, codecs.ErrTooLarge)
	errBare  = codecs.NewError("test: no class")
)

func TestNewError(t *testing.T) {
	if got, want := errCause.Error(), "test: malformed: bad length"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	tests := []struct {
		name   string
		err    error
		target error
		want   bool
	}{
		{"itself", errCause, errCause, true},
		{"its class", errCause, errClass, true},
		{"another class", errCause, codecs.ErrTooLarge, false},
		{"first of two classes", errBoth, errClass, true},
		{"second of two classes", errBoth, codecs.ErrTooLarge, true},
		{"no class", errBare, errClass, false},
		{"a class's class", codecs.NewError("test: deeper", errCause), errClass, true},
		{"wrapped by a caller", fmt.Errorf("conn 7: %w", errCause), errClass, true},
		{"same message and class", codecs.NewError("test: malformed: bad length", errClass), errCause, false},
		{"the class does not match the cause", errClass, errCause, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errors.Is(tt.err, tt.target); got != tt.want {
				t.Errorf("errors.Is(%v, %v) = %v, want %v", tt.err, tt.target, got, tt.want)
			}
		})
	}
	var e *codecs.Error
	if !errors.As(fmt.Errorf("conn 7: %w", errBoth), &e) || e != errBoth {
		t.Errorf("errors.As found %v, want %v", e, errBoth)
	}
	if errors.Unwrap(errCause) != nil {
		t.Error("errors.Unwrap is not nil: Unwrap does not return []error")
	}
}

// TestNewErrorKeepsItsClasses checks that the caller's slice of classes
// can change after NewError without changing what the error matches.
func TestNewErrorKeepsItsClasses(t *testing.T) {
	classes := []error{errClass}
	err := codecs.NewError("test: copied", classes...)
	classes[0] = codecs.ErrTooLarge
	if !errors.Is(err, errClass) || errors.Is(err, codecs.ErrTooLarge) {
		t.Error("the error follows a change to the caller's slice")
	}
}

func TestNewErrorNilClassPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("NewError with a nil class did not panic")
		}
	}()
	codecs.NewError("test: nil class", errClass, nil)
}

// TestErrorAllocs checks that returning, matching and printing a static
// error allocate nothing, which is what the codecs declare them for.
func TestErrorAllocs(t *testing.T) {
	var sink bool
	var msg string
	allocs := testing.AllocsPerRun(100, func() {
		sink = errors.Is(errBoth, codecs.ErrTooLarge) && !errors.Is(errBoth, codecs.ErrNeedMore)
		msg = errBoth.Error()
	})
	if allocs != 0 {
		t.Errorf("%v allocations, want 0", allocs)
	}
	if !sink || msg == "" {
		t.Error("errBoth does not match codecs.ErrTooLarge")
	}
}
