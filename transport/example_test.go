package transport_test

import (
	"bufio"
	"fmt"
	"net"
	"strings"

	"github.com/penstock-proxy/penstock/transport"
)

// upper answers each line with the same line in capitals. It runs on the
// event loop: it never blocks, and it leaves an incomplete line unconsumed
// until the rest arrives.
type upper struct{}

func (upper) OnData(s transport.Stream, p []byte) int {
	consumed := 0
	for {
		i := strings.IndexByte(string(p[consumed:]), '\n')
		if i < 0 {
			return consumed
		}
		line := p[consumed : consumed+i+1]
		_, _ = s.Write([]byte(strings.ToUpper(string(line))))
		consumed += i + 1
	}
}
func (upper) OnReadEOF(s transport.Stream)    { _ = s.CloseWrite() }
func (upper) OnDrained(transport.Stream)      {}
func (upper) OnClose(transport.Stream, error) {}

// A Go program embeds the transport with its own handler in a few lines.
func Example() {
	tr, err := transport.Start(transport.Options{Loops: 1}, transport.Listener{
		Addr:   "tcp://127.0.0.1:0",
		Accept: func(s transport.Stream) { s.SetHandler(upper{}) },
	})
	if err != nil {
		panic(err)
	}
	defer tr.Stop()

	c, _ := net.Dial("tcp", tr.Addrs()[0].String())
	defer c.Close()
	fmt.Fprint(c, "hello, ")
	fmt.Fprint(c, "penstock\n")
	line, _ := bufio.NewReader(c).ReadString('\n')
	fmt.Print(line)
	// Output: HELLO, PENSTOCK
}
