package framing

import (
	"bytes"
	"errors"
	"slices"
	"strconv"
	"testing"

	"github.com/penstock-proxy/penstock/codecs"
)

// framer is what every framer in the package implements. The package does not
// export it: generated pipelines call the concrete types directly.
type framer interface {
	Validate() error
	Decode(in []byte) (frame []byte, n int, err error)
	Append(dst, payload []byte) ([]byte, error)
}

var (
	_ framer = LengthField{}
	_ framer = Delimiter{}
	_ framer = Line{}
	_ framer = Fixed{}
	_ framer = Datagram{}
)

var helloWorld = []byte("HELLO, WORLD")

// cat returns the concatenation of parts in a new slice.
func cat(parts ...[]byte) []byte {
	return slices.Concat(parts...)
}

// decodeAll decodes frames from the start of in until Decode fails, and
// returns copies of the frames, the bytes they consumed and the error that
// stopped it (codecs.ErrNeedMore once in is used up).
func decodeAll(t testing.TB, f framer, in []byte) (frames [][]byte, consumed int, err error) {
	t.Helper()
	for {
		frame, n, err := f.Decode(in[consumed:])
		if err != nil {
			return frames, consumed, err
		}
		if n == 0 {
			t.Fatalf("Decode returned a frame and consumed nothing at offset %d", consumed)
		}
		frames = append(frames, bytes.Clone(frame))
		consumed += n
	}
}

// deliver feeds in to f through a read buffer in the given reads, as a
// stream reader would, and returns the frames decoded. Every read must leave
// f needing more, and nothing may be left over at the end.
func deliver(t testing.TB, f framer, reads ...[]byte) [][]byte {
	t.Helper()
	var frames [][]byte
	var pending []byte
	for i, read := range reads {
		pending = append(pending, read...)
		got, n, err := decodeAll(t, f, pending)
		if err != codecs.ErrNeedMore {
			t.Fatalf("after read %d of %d: %v, want ErrNeedMore", i+1, len(reads), err)
		}
		frames = append(frames, got...)
		pending = pending[:copy(pending, pending[n:])]
	}
	if len(pending) != 0 {
		t.Fatalf("%d bytes left undecoded: %q", len(pending), pending)
	}
	return frames
}

// checkSplits checks that in decodes to want however it arrives: whole, in
// two reads at every split point, and one byte at a time.
func checkSplits(t *testing.T, f framer, in []byte, want [][]byte) {
	t.Helper()
	if got := deliver(t, f, in); !equalFrames(got, want) {
		t.Fatalf("whole input: frames %q, want %q", got, want)
	}
	for k := range len(in) + 1 {
		if got := deliver(t, f, in[:k], in[k:]); !equalFrames(got, want) {
			t.Fatalf("split at %d/%d: frames %q, want %q", k, len(in), got, want)
		}
	}
	reads := make([][]byte, len(in))
	for i := range in {
		reads[i] = in[i : i+1]
	}
	if got := deliver(t, f, reads...); !equalFrames(got, want) {
		t.Fatalf("one byte at a time: frames %q, want %q", got, want)
	}
}

func equalFrames(a, b [][]byte) bool {
	return slices.EqualFunc(a, b, bytes.Equal)
}

// checkDecode calls f.Decode(in) and checks the stage contract: n within in,
// nothing consumed or returned on ErrNeedMore, no frame with an error, and a
// frame that is a slice of the consumed bytes. It returns the result and the
// frame's offset in in (-1 without a frame).
func checkDecode(t *testing.T, f framer, in []byte) (frame []byte, n, off int, err error) {
	t.Helper()
	frame, n, err = f.Decode(in)
	if n < 0 || n > len(in) {
		t.Fatalf("%+v: n = %d for %d bytes", f, n, len(in))
	}
	if err != nil {
		if frame != nil || (errors.Is(err, codecs.ErrNeedMore) && n != 0) {
			t.Fatalf("%+v: frame %q, n = %d with %v", f, frame, n, err)
		}
		return nil, n, -1, err
	}
	off = offsetIn(in[:n], frame)
	if off < 0 {
		t.Fatalf("%+v: frame %q (%d bytes) is not within the %d bytes consumed", f, frame, len(frame), n)
	}
	if cap(frame) != len(frame) {
		t.Fatalf("%+v: frame has capacity %d beyond its length %d", f, cap(frame), len(frame))
	}
	return frame, n, off, nil
}

// offsetIn returns where frame starts within in when it is a slice of in's
// memory that ends within in, or -1. An empty frame is within any in.
func offsetIn(in, frame []byte) int {
	if len(frame) == 0 {
		return 0
	}
	for i := 0; i+len(frame) <= len(in); i++ {
		if &in[i] == &frame[0] {
			return i
		}
	}
	return -1
}

// checkPrefixes checks that no prefix of in gives a result other than
// codecs.ErrNeedMore or the result of the whole input, and that a prefix of
// bound bytes or more never needs more (bound < 0: no bound).
func checkPrefixes(t *testing.T, f framer, in []byte, bound int) {
	t.Helper()
	frame, n, off, err := checkDecode(t, f, in)
	if bound >= 0 && len(in) >= bound && err == codecs.ErrNeedMore {
		t.Fatalf("%+v: ErrNeedMore with %d bytes buffered, bound %d", f, len(in), bound)
	}
	for k := range min(len(in), 4096) {
		pframe, pn, poff, perr := checkDecode(t, f, in[:k])
		if perr == codecs.ErrNeedMore {
			if bound >= 0 && k >= bound {
				t.Fatalf("%+v: ErrNeedMore with %d bytes buffered, bound %d", f, k, bound)
			}
			continue
		}
		if errorText(perr) != errorText(err) || pn != n || poff != off || !bytes.Equal(pframe, frame) {
			t.Fatalf("%+v: prefix of %d/%d bytes gives %q, %d, %v; whole input %q, %d, %v",
				f, k, len(in), pframe, pn, perr, frame, n, err)
		}
	}
}

func errorText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// checkError checks that err is want itself, or a *TooLargeError with the
// message of want when want is one.
func checkError(t *testing.T, err, want error) {
	t.Helper()
	var tooLarge *TooLargeError
	if errors.As(want, &tooLarge) {
		if errorText(err) != want.Error() || !errors.Is(err, ErrTooLarge) || !errors.Is(err, codecs.ErrTooLarge) {
			t.Fatalf("err = %v, want %v", err, want)
		}
		return
	}
	if err != want {
		t.Fatalf("err = %v, want %v", err, want)
	}
}

// checkAppendError checks that err is one of the errors Append documents.
func checkAppendError(t *testing.T, f framer, err error) {
	t.Helper()
	for _, class := range []error{ErrConfig, ErrTooLarge, ErrBadLength, ErrDelimiterInPayload} {
		if errors.Is(err, class) {
			return
		}
	}
	t.Fatalf("%+v: Append: undocumented error %v", f, err)
}

// sizeName names a benchmark payload size.
func sizeName(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return strconv.Itoa(n/1024) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}

func toFrames(s []string) [][]byte {
	frames := make([][]byte, len(s))
	for i, f := range s {
		frames[i] = []byte(f)
	}
	return frames
}

// benchmarkFramer runs decode and append sub-benchmarks of f on the frame
// that carries payload.
func benchmarkFramer(b *testing.B, name string, f framer, payload []byte) {
	wire, err := f.Append(nil, payload)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("decode-"+name, func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(wire)))
		for b.Loop() {
			f.Decode(wire)
		}
	})
	b.Run("append-"+name, func(b *testing.B) {
		dst := make([]byte, 0, len(wire))
		b.ReportAllocs()
		b.SetBytes(int64(len(wire)))
		for b.Loop() {
			f.Append(dst[:0], payload)
		}
	})
}
