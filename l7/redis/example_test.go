package redis_test

import (
	"bufio"
	"fmt"
	"io"
	"log"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/penstock-proxy/penstock/l4"
	"github.com/penstock-proxy/penstock/l7/redis"
	"github.com/penstock-proxy/penstock/transport"
)

// The proxy runs on a transport listener in front of its shards. Here the
// shards are tiny in-process fakes that know SET, GET, MSET and MGET (in
// production: redis-server addresses); MSET and MGET sent to the proxy are
// split over them by key and answered as one.
func Example() {
	var shards []*fakeShard
	var servers []l4.KetamaServer
	for _, name := range []string{"shard0", "shard1"} {
		sh, err := startFakeShard()
		if err != nil {
			log.Fatal(err)
		}
		defer sh.ln.Close()
		shards = append(shards, sh)
		// The names, not the addresses, place the keys, as on twemproxy's
		// "host:port:weight name" server lines.
		servers = append(servers, l4.KetamaServer{Name: name, Addr: sh.ln.Addr().String(), Weight: 1})
	}
	p, err := redis.New(redis.Config{Servers: servers})
	if err != nil {
		log.Fatal(err)
	}
	tr, err := transport.Start(transport.Options{Loops: 1}, transport.Listener{
		Addr: "tcp://127.0.0.1:0", Accept: p.Accept})
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Stop()

	c, err := net.Dial("tcp", tr.Addrs()[0].String())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	for _, cmd := range [][]string{
		{"PING"}, // the proxy answers this itself
		{"MSET", "apple", "1", "cherry", "2", "banana", "3", "plum", "4"},
		{"GET", "cherry"},
		{"MGET", "apple", "banana", "cherry", "plum", "kiwi"},
	} {
		writeCommand(c, cmd)
		fmt.Println(strings.Join(cmd, " "), "->", readReply(r))
	}
	for i, sh := range shards {
		fmt.Printf("shard%d holds %v\n", i, sh.keys())
	}
	// Output:
	// PING -> PONG
	// MSET apple 1 cherry 2 banana 3 plum 4 -> OK
	// GET cherry -> 2
	// MGET apple banana cherry plum kiwi -> [1 3 2 4 (nil)]
	// shard0 holds [apple banana]
	// shard1 holds [cherry plum]
}

// fakeShard is a Redis server that knows four commands, for the example.
type fakeShard struct {
	ln   net.Listener
	mu   sync.Mutex
	data map[string]string
}

func startFakeShard() (*fakeShard, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	sh := &fakeShard{ln: ln, data: map[string]string{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go sh.serve(c)
		}
	}()
	return sh, nil
}

func (sh *fakeShard) serve(c net.Conn) {
	defer c.Close()
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	for {
		cmd, err := readCommand(r)
		if err != nil {
			return
		}
		sh.mu.Lock()
		switch strings.ToUpper(cmd[0]) {
		case "SET", "MSET":
			for i := 1; i+1 < len(cmd); i += 2 {
				sh.data[cmd[i]] = cmd[i+1]
			}
			w.WriteString("+OK\r\n")
		case "GET":
			writeBulk(w, sh.data, cmd[1])
		case "MGET":
			fmt.Fprintf(w, "*%d\r\n", len(cmd)-1)
			for _, k := range cmd[1:] {
				writeBulk(w, sh.data, k)
			}
		default:
			fmt.Fprintf(w, "-ERR unknown command '%s'\r\n", cmd[0])
		}
		sh.mu.Unlock()
		if r.Buffered() == 0 { // the end of a pipelined batch
			if w.Flush() != nil {
				return
			}
		}
	}
}

func (sh *fakeShard) keys() []string {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var ks []string
	for k := range sh.data {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func writeBulk(w *bufio.Writer, data map[string]string, k string) {
	if v, ok := data[k]; ok {
		fmt.Fprintf(w, "$%d\r\n%s\r\n", len(v), v)
	} else {
		w.WriteString("$-1\r\n")
	}
}

// writeCommand sends a command as a RESP array of bulk strings.
func writeCommand(w io.Writer, args []string) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	io.WriteString(w, b.String())
}

// readCommand reads a RESP array of bulk strings.
func readCommand(r *bufio.Reader) ([]string, error) {
	n, err := readHeader(r, '*')
	if err != nil {
		return nil, err
	}
	args := make([]string, n)
	for i := range args {
		l, err := readHeader(r, '$')
		if err != nil {
			return nil, err
		}
		b := make([]byte, l+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		args[i] = string(b[:l])
	}
	return args, nil
}

// readHeader reads a line such as "*3" or "$5" and returns its number.
func readHeader(r *bufio.Reader, kind byte) (int, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return 0, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" || line[0] != kind {
		return 0, fmt.Errorf("want %c, got %q", kind, line)
	}
	return strconv.Atoi(line[1:])
}

// readReply reads one reply as text: a status, an error, a bulk string,
// (nil), or an array in brackets.
func readReply(r *bufio.Reader) string {
	line, err := r.ReadString('\n')
	if err != nil {
		return "read: " + err.Error()
	}
	line = strings.TrimSuffix(line, "\r\n")
	switch line[0] {
	case '$':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return "(nil)"
		}
		b := make([]byte, n+2)
		_, _ = io.ReadFull(r, b)
		return string(b[:n])
	case '*':
		n, _ := strconv.Atoi(line[1:])
		parts := make([]string, n)
		for i := range parts {
			parts[i] = readReply(r)
		}
		return "[" + strings.Join(parts, " ") + "]"
	default: // +OK, -ERR ..., :3
		return line[1:]
	}
}
