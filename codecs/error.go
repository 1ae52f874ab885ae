package codecs

// Error is a static error value: a fixed message and the classes, more
// general sentinels such as [ErrTooLarge] or a codec's own ErrMalformed,
// that it matches under errors.Is. A codec declares each failure it reports
// as a package variable made by [NewError], so that its error paths return
// a value without allocating, each failure has a stable message a caller
// can count by, and a caller tests for the class with errors.Is.
//
// Errors compare by identity: two calls of NewError with the same
// arguments make two distinct errors, and an Error matches itself, its
// classes and whatever they match. An Error never changes after NewError
// returns it, so it is safe from any goroutine.
type Error struct {
	msg     string
	classes []error
}

// NewError returns a new [*Error] with the message msg that matches each
// of classes under errors.Is. It is meant for package variables, made once
// at initialization; it panics if a class is nil. It is safe from any
// goroutine.
func NewError(msg string, classes ...error) error {
	for _, c := range classes {
		if c == nil {
			panic("penstock/codecs: NewError with a nil class")
		}
	}
	return &Error{msg: msg, classes: append([]error(nil), classes...)}
}

// Error returns the message given to [NewError]. It is safe from any
// goroutine.
func (e *Error) Error() string { return e.msg }

// Unwrap returns the classes given to [NewError], for errors.Is and
// errors.As; the caller must not modify the slice. It is safe from any
// goroutine.
func (e *Error) Unwrap() []error { return e.classes }
