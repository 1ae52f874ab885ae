package resp

import (
	"errors"
	"fmt"
	"testing"

	"github.com/penstock-proxy/penstock/codecs"
)

func TestAppendProtocolError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"sentinel", ErrUnbalancedQuotes, "-ERR Protocol error: unbalanced quotes in request\r\n"},
		{"cause", errBulkTooLarge, "-ERR Protocol error: invalid bulk length\r\n"},
		{"expected bulk", expectedBulkError('x'), "-ERR Protocol error: expected '$', got 'x'\r\n"},
		{"expected bulk got LF", expectedBulkError('\n'), "-ERR Protocol error: expected '$', got ' '\r\n"},
		{"wrapped by the caller", fmt.Errorf("conn 7: %w", errMultibulkLength), "-ERR Protocol error: invalid multibulk length\r\n"},
		{"wrapped expected bulk", fmt.Errorf("conn 7: %w", expectedBulkError(':')), "-ERR Protocol error: expected '$', got ':'\r\n"},
		{"foreign error", errors.New("secret: dial 10.0.0.1"), "-ERR Protocol error\r\n"},
		{"class only", ErrProtocol, "-ERR Protocol error\r\n"},
		{"nil", nil, "-ERR Protocol error\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(AppendProtocolError([]byte{}, tt.err)); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestErrors checks that every error value has its own message for
// counters and logs, and matches the sentinels it documents.
func TestErrors(t *testing.T) {
	sentinels := []error{ErrInvalidType, ErrInvalidLength, ErrNegativeLength, ErrInvalidInteger, ErrInvalidValue,
		ErrMissingCRLF, ErrTooLarge, ErrTooDeep, ErrUnbalancedQuotes, ErrInlineNUL}
	causes := []error{errMultibulkLength, errMultibulkCRLF, errMultibulkNegative, errTooManyArgs, errBulkLength,
		errBulkLengthCRLF, errBulkNegative, errBulkTooLarge, errRequestTooLarge, errBulkDataCRLF, errInlineTooLarge, errQuoteNotClosed,
		errQuoteFollowed, errLengthCRLF, errIntegerCRLF, errLineCRLF, errLineTooLarge, errBoolean, errNull, errDouble,
		errBigNumber, errVerbatim, expectedBulkError('x'), expectedBulkError(0x80)}
	seen := map[string]bool{ErrProtocol.Error(): true, ErrUnexpectedType.Error(): true}
	for _, err := range append(sentinels, causes...) {
		msg := err.Error()
		if seen[msg] {
			t.Errorf("message %q is not unique", msg)
		}
		seen[msg] = true
		if !errors.Is(err, ErrProtocol) {
			t.Errorf("%v does not match ErrProtocol", err)
		}
		matches := 0
		for _, s := range sentinels {
			if errors.Is(err, s) {
				matches++
			}
		}
		if matches != 1 {
			t.Errorf("%v matches %d sentinels, want 1", err, matches)
		}
	}
	if !errors.Is(errInlineTooLarge, codecs.ErrTooLarge) || !errors.Is(ErrTooLarge, codecs.ErrTooLarge) {
		t.Error("size errors do not match codecs.ErrTooLarge")
	}
	if errors.Is(ErrUnexpectedType, ErrProtocol) {
		t.Error("ErrUnexpectedType matches ErrProtocol")
	}
	if got, want := expectedBulkError(0x80).Error(), `penstock/resp: request argument starts with '\x80', not '$'`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// TestAppendProtocolErrorAllocs checks that finding the reply text of a
// protocol error, through the caller's wrapping too, allocates nothing.
func TestAppendProtocolErrorAllocs(t *testing.T) {
	buf := make([]byte, 0, 128)
	wrapped := fmt.Errorf("conn 7: %w", errBulkTooLarge)
	if allocs := testing.AllocsPerRun(100, func() {
		b := AppendProtocolError(buf[:0], errBulkTooLarge)
		b = AppendProtocolError(b, ErrTooLarge)
		_ = AppendProtocolError(b, wrapped)
	}); allocs != 0 {
		t.Fatalf("%v allocations per run", allocs)
	}
}
