package main

// Command redisbig times large values through a Redis proxy for
// benchmarks/redis-large.sh: for each size, SET of one value of that size
// then GET of it (checked byte for byte), and MSET then MGET of five
// values of that size, each timed from the first byte written to the last
// byte read, on one connection. It prints one line per size and
// operation: "SIZE_MB OP SECONDS".
//
//	redisbig -addr 127.0.0.1:25004 -sizes 8,16,32,64 [-mset 16]
import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/penstock-proxy/penstock/codecs/resp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:25004", "the proxy")
	sizes := flag.String("sizes", "8,16,32,64", "value sizes in MiB, comma-separated")
	mset := flag.Int("mset", 16, "MSET/MGET of five values of this many MiB (0: skip)")
	timeout := flag.Duration("timeout", 120*time.Second, "the longest one operation may take")
	flag.Parse()
	c, err := net.Dial("tcp", *addr)
	if err != nil {
		fail(err)
	}
	defer c.Close()
	r := bufio.NewReaderSize(c, 1<<20)
	for _, f := range strings.Split(*sizes, ",") {
		mb, err := strconv.Atoi(f)
		if err != nil {
			fail(err)
		}
		val := value(mb << 20)
		key := fmt.Sprintf("redisbig:%d", mb)
		d := timed(c, *timeout, func() error {
			if _, err := c.Write(resp.AppendCommand(nil, []byte("SET"), []byte(key), val)); err != nil {
				return err
			}
			return expect(r, []byte("+OK\r\n"))
		})
		fmt.Printf("%d SET %.4f\n", mb, d.Seconds())
		d = timed(c, *timeout, func() error {
			if _, err := c.Write(resp.AppendCommand(nil, []byte("GET"), []byte(key))); err != nil {
				return err
			}
			return expectBulk(r, val)
		})
		fmt.Printf("%d GET %.4f\n", mb, d.Seconds())
	}
	if *mset > 0 {
		args := [][]byte{[]byte("MSET")}
		keys := [][]byte{[]byte("MGET")}
		var vals [][]byte
		for i := range 5 {
			k := []byte(fmt.Sprintf("redisbig:m%d", i))
			v := value(*mset << 20)
			args = append(args, k, v)
			keys = append(keys, k)
			vals = append(vals, v)
		}
		d := timed(c, *timeout, func() error {
			if _, err := c.Write(resp.AppendCommand(nil, args...)); err != nil {
				return err
			}
			return expect(r, []byte("+OK\r\n"))
		})
		fmt.Printf("%d MSETx5 %.4f\n", *mset, d.Seconds())
		d = timed(c, *timeout, func() error {
			if _, err := c.Write(resp.AppendCommand(nil, keys...)); err != nil {
				return err
			}
			if err := expect(r, []byte("*5\r\n")); err != nil {
				return err
			}
			for _, v := range vals {
				if err := expectBulk(r, v); err != nil {
					return err
				}
			}
			return nil
		})
		fmt.Printf("%d MGETx5 %.4f\n", *mset, d.Seconds())
	}
}

func value(n int) []byte {
	v := make([]byte, n)
	rng := rand.NewChaCha8([32]byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)})
	_, _ = rng.Read(v)
	return v
}

func timed(c net.Conn, timeout time.Duration, op func() error) time.Duration {
	_ = c.SetDeadline(time.Now().Add(timeout))
	start := time.Now()
	if err := op(); err != nil {
		fail(err)
	}
	return time.Since(start)
}

func expect(r *bufio.Reader, want []byte) error {
	got := make([]byte, len(want))
	if _, err := io.ReadFull(r, got); err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		rest, _ := r.ReadString('\n')
		return fmt.Errorf("got %q%s, want %q", got, rest, want)
	}
	return nil
}

func expectBulk(r *bufio.Reader, want []byte) error {
	if err := expect(r, fmt.Appendf(nil, "$%d\r\n", len(want))); err != nil {
		return err
	}
	got := make([]byte, len(want)+2)
	if _, err := io.ReadFull(r, got); err != nil {
		return err
	}
	if !bytes.Equal(got[:len(want)], want) || string(got[len(want):]) != "\r\n" {
		return errors.New("the value came back different")
	}
	return nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "redisbig:", err)
	os.Exit(1)
}
