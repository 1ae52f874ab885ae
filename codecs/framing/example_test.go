package framing_test

import (
	"errors"
	"fmt"

	"github.com/penstock-proxy/penstock/codecs"
	"github.com/penstock-proxy/penstock/codecs/framing"
)

// session reads a length-prefixed protocol: it appends each read to one
// buffer, decodes every complete frame in it, and keeps the incomplete rest
// at the front of the buffer for the next read.
type session struct {
	framer framing.LengthField
	buf    []byte
}

// onRead handles the bytes of one read. It returns an error when the peer
// broke the protocol and the connection must close.
func (s *session) onRead(read []byte) error {
	s.buf = append(s.buf, read...)
	consumed := 0
	for {
		frame, n, err := s.framer.Decode(s.buf[consumed:])
		if errors.Is(err, codecs.ErrNeedMore) {
			break
		}
		if err != nil {
			return err
		}
		// frame is borrowed from s.buf: use it or copy it before the
		// buffer changes.
		fmt.Printf("message %q\n", frame)
		consumed += n
	}
	s.buf = s.buf[:copy(s.buf, s.buf[consumed:])]
	return nil
}

func ExampleLengthField() {
	// "framing": {"kind": "length_field", "length": 4, "strip": 4,
	//             "endian": "big", "max": 64, "fail_fast": true}
	framer := framing.LengthField{Length: 4, Strip: 4, BigEndian: true, Max: 64, FailFast: true}

	// The peer sends three messages; the reads do not line up with them.
	var wire []byte
	for _, msg := range []string{"hello", "", "penstock"} {
		wire, _ = framer.Append(wire, []byte(msg))
	}
	s := &session{framer: framer}
	for _, read := range [][]byte{wire[:3], wire[3:11], wire[11:]} {
		if err := s.onRead(read); err != nil {
			fmt.Println("close:", err)
			return
		}
	}

	// A frame over Max is refused as soon as its length arrives.
	err := s.onRead([]byte{0, 0, 1, 0})
	fmt.Println("close:", err, errors.Is(err, codecs.ErrTooLarge))
	// Output:
	// message "hello"
	// message ""
	// message "penstock"
	// close: penstock/framing: length field declares a frame of 260 bytes, over Max 64 true
}

func ExampleLengthField_Append() {
	// A 2-byte big-endian length at offset 1 that counts the whole frame,
	// after a 1-byte message type, as in Netty's documentation.
	framer := framing.LengthField{Offset: 1, Length: 2, Adjust: -3, Strip: 3, BigEndian: true, Max: 1 << 10}
	frame, err := framer.Append(nil, []byte("HELLO"))
	if err != nil {
		panic(err)
	}
	frame[0] = 0xca // Append leaves the Offset bytes zero for the caller's header
	fmt.Printf("% x\n", frame)

	payload, n, err := framer.Decode(frame)
	fmt.Printf("%q %d %v\n", payload, n, err)
	// Output:
	// ca 00 08 48 45 4c 4c 4f
	// "HELLO" 8 <nil>
}

func ExampleLine() {
	// "framing": {"kind": "line", "max": 80, "strip": true}
	framer := framing.Line{Max: 80, Strip: true}
	in := []byte("PING\r\nECHO hi\nQUIT")
	for {
		line, n, err := framer.Decode(in)
		if err != nil {
			fmt.Printf("%v with %q buffered\n", err, in)
			break
		}
		fmt.Printf("%q\n", line)
		in = in[n:]
	}
	// Output:
	// "PING"
	// "ECHO hi"
	// penstock/codecs: need more bytes with "QUIT" buffered
}
