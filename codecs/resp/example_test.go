package resp_test

import (
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/penstock-proxy/penstock/codecs"
	"github.com/penstock-proxy/penstock/codecs/resp"
)

// shardFor picks the shard that owns key.
func shardFor(key []byte, shards int) int {
	return int(crc32.ChecksumIEEE(key) % uint32(shards))
}

// A proxy's read handler decodes the requests a client pipelined into one
// read, picks a shard by key and forwards each request's bytes unchanged.
// What remains is the start of a request still in flight, kept for the
// next read.
func ExampleDecodeCommand() {
	in := []byte("*3\r\n$3\r\nSET\r\n$5\r\nalice\r\n$2\r\n42\r\n" + // redis-cli
		"GET bob\r\n" + // typed in telnet
		"*2\r\n$3\r\nGET\r\n$5\r\nalice\r\n" +
		"*2\r\n$3\r\nGET\r\n$2\r\nus")
	shards := make([][]byte, 2) // the bytes to write to each shard
	var toClient []byte
	var cmd resp.Command // one per connection, reused
	for {
		n, err := resp.DecodeCommand(in, &cmd)
		if errors.Is(err, codecs.ErrNeedMore) {
			break
		}
		if err != nil {
			// Reply as redis-server does, then close the connection.
			toClient = resp.AppendProtocolError(toClient, err)
			break
		}
		args := cmd.Args()
		switch {
		case len(args) == 0:
			// An empty request gets no reply.
		case len(args) < 2:
			toClient = resp.AppendError(toClient, "ERR wrong number of arguments for '"+string(cmd.Name())+"' command")
		default:
			s := shardFor(args[1], len(shards))
			shards[s] = append(shards[s], in[:n]...)
		}
		in = in[n:]
	}
	for i, b := range shards {
		fmt.Printf("shard %d: %q\n", i, b)
	}
	fmt.Printf("kept: %q\n", in)
	// Output:
	// shard 0: "GET bob\r\n"
	// shard 1: "*3\r\n$3\r\nSET\r\n$5\r\nalice\r\n$2\r\n42\r\n*2\r\n$3\r\nGET\r\n$5\r\nalice\r\n"
	// kept: "*2\r\n$3\r\nGET\r\n$2\r\nus"
}

// A proxy splits MGET alice bob carol into one MGET per shard, then puts
// the elements of the shards' replies back in the client's order without
// decoding them.
func ExampleReadArrayHeader() {
	keys := [][]byte{[]byte("alice"), []byte("bob"), []byte("carol")}
	perShard := make([][][]byte, 2)
	for _, k := range keys {
		s := shardFor(k, 2)
		perShard[s] = append(perShard[s], k)
	}
	for s, ks := range perShard {
		fmt.Printf("to shard %d: %q\n", s, resp.AppendCommand(nil, append([][]byte{[]byte("MGET")}, ks...)...))
	}

	// The shards' replies; carol does not exist.
	replies := [][]byte{
		[]byte("*1\r\n$2\r\n17\r\n"),
		[]byte("*2\r\n$2\r\n42\r\n$-1\r\n"),
	}
	elements := make([][][]byte, len(replies))
	for s, reply := range replies {
		if resp.IsError(reply) {
			fmt.Printf("to client: %q\n", reply) // pass errors through
			return
		}
		count, _, off, err := resp.ReadArrayHeader(reply)
		if err != nil {
			panic(err)
		}
		for range count {
			n, err := resp.ScanValue(reply[off:], nil)
			if err != nil {
				panic(err)
			}
			elements[s] = append(elements[s], reply[off:off+n])
			off += n
		}
	}
	merged := resp.AppendArrayHeader(nil, len(keys))
	next := make([]int, len(replies))
	for _, k := range keys {
		s := shardFor(k, 2)
		merged = append(merged, elements[s][next[s]]...)
		next[s]++
	}
	fmt.Printf("to client: %q\n", merged)
	// Output:
	// to shard 0: "*2\r\n$4\r\nMGET\r\n$3\r\nbob\r\n"
	// to shard 1: "*3\r\n$4\r\nMGET\r\n$5\r\nalice\r\n$5\r\ncarol\r\n"
	// to client: "*3\r\n$2\r\n42\r\n$2\r\n17\r\n$-1\r\n"
}

// A proxy sends a DEL of several keys to each shard that holds some and
// answers the client with the sum of the counts.
func ExampleReadInteger() {
	var deleted int64
	for _, reply := range [][]byte{[]byte(":2\r\n"), []byte(":1\r\n")} {
		v, _, err := resp.ReadInteger(reply)
		if err != nil {
			panic(err)
		}
		deleted += v
	}
	fmt.Printf("%q\n", resp.AppendInt(nil, deleted))
	// Output:
	// ":3\r\n"
}

// A proxy finds where each reply from a server connection ends as the
// bytes arrive, here a RESP3 reply with an attribute split over two reads,
// then an error reply.
func ExampleScanner() {
	reads := []string{
		"|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n$5\r\nhel",
		"lo\r\n-ERR no such key\r\n",
	}
	var s resp.Scanner // one per server connection, reused
	var buf []byte
	for _, read := range reads {
		buf = append(buf, read...)
		for {
			n, err := s.Scan(buf)
			if errors.Is(err, codecs.ErrNeedMore) {
				break
			}
			if err != nil {
				panic(err)
			}
			fmt.Printf("reply of %d bytes, error: %v\n", n, resp.IsError(buf))
			buf = buf[n:]
		}
	}
	// Output:
	// reply of 58 bytes, error: false
	// reply of 18 bytes, error: true
}
