package main

// Command h2idle measures a proxy's memory per idle HTTP/2 connection for
// benchmarks/h2.sh: 64 warm-up connections (one GET each, closed), the
// proxy's RSS (its process and its children), then N h2c connections
// (prior knowledge) with one GET each, left idle; after 1 s the RSS again,
// and (after - before) / N printed in KB (1000 B).
//
//	h2idle -addr 127.0.0.1:28111 -pid PID -n 3000
import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

func rss(pid int) int64 {
	var total int64
	pids := []int{pid}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid)); err == nil {
		for _, f := range strings.Fields(string(b)) {
			p, _ := strconv.Atoi(f)
			pids = append(pids, p)
		}
	}
	for _, p := range pids {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "VmRSS:") {
				v, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
				total += v * 1024
			}
		}
	}
	return total
}

func conn(addr string) (net.Conn, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	fr := http2.NewFramer(nc, nc)
	io.WriteString(nc, http2.ClientPreface)
	fr.WriteSettings()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "x"}, {":path", "/"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true, EndStream: true})
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return nil, err
		}
		if f.Header().StreamID == 1 && f.Header().Flags.Has(http2.FlagDataEndStream) {
			return nc, nil
		}
		if s, ok := f.(*http2.SettingsFrame); ok && !s.IsAck() {
			fr.WriteSettingsAck()
		}
	}
}

func main() {
	addr := flag.String("addr", "", "the proxy's h2c address")
	pid := flag.Int("pid", 0, "the proxy's PID")
	n := flag.Int("n", 3000, "idle connections to hold")
	flag.Parse()
	var keep []net.Conn
	for i := 0; i < 64; i++ {
		c, err := conn(*addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "h2idle:", err)
			os.Exit(1)
		}
		c.Close()
	}
	time.Sleep(time.Second)
	before := rss(*pid)
	for i := 0; i < *n; i++ {
		c, err := conn(*addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "h2idle:", err)
			os.Exit(1)
		}
		keep = append(keep, c)
	}
	time.Sleep(time.Second)
	after := rss(*pid)
	fmt.Printf("%.2f KB per idle h2 connection (%d conns)\n", float64(after-before)/float64(*n)/1000, *n)
	_ = keep
}
