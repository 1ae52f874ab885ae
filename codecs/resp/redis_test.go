package resp

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/penstock-proxy/penstock/codecs"
)

// startRedis runs a redis-server of its own on a loopback port for the
// test, with persistence off, and returns its address. It skips the test
// when redis-server is not installed.
func startRedis(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed (apt-get install redis-server); skipping the test against a real server")
	}
	dir := t.TempDir()
	for range 5 {
		port := strconv.Itoa(20000 + rand.IntN(12000))
		addr := net.JoinHostPort("127.0.0.1", port)
		if l, err := net.Listen("tcp", addr); err != nil {
			continue
		} else {
			l.Close()
		}
		cmd := exec.Command(path, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--enable-debug-command", "local", "--dir", dir, "--daemonize", "no", "--logfile", "")
		var log bytes.Buffer
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting redis-server: %v", err)
		}
		exited := make(chan struct{})
		go func() {
			_ = cmd.Wait()
			close(exited)
		}()
		if waitListening(addr, exited) {
			t.Cleanup(func() {
				_ = cmd.Process.Signal(os.Interrupt)
				select {
				case <-exited:
				case <-time.After(5 * time.Second):
					_ = cmd.Process.Kill()
					<-exited
				}
			})
			return addr
		}
		_ = cmd.Process.Kill()
		<-exited
		t.Logf("redis-server on port %s did not start:\n%s", port, log.String())
	}
	t.Fatal("could not start redis-server")
	return ""
}

// waitListening waits until addr accepts connections, or the server exits.
func waitListening(addr string, exited <-chan struct{}) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// redisConn is a client connection that finds the end of every reply with a
// Scanner, as bytes arrive, and checks ScanValue agrees once it is whole.
type redisConn struct {
	t    *testing.T
	conn net.Conn
	buf  []byte
	scan Scanner
}

func dialRedis(t *testing.T, addr string) *redisConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return &redisConn{t: t, conn: c}
}

func (r *redisConn) send(req []byte) {
	r.t.Helper()
	if _, err := r.conn.Write(req); err != nil {
		r.t.Fatal(err)
	}
}

// reply returns the next reply, read in as many reads as it takes.
func (r *redisConn) reply() string {
	r.t.Helper()
	for {
		n, err := r.scan.Scan(r.buf)
		if err == nil {
			if m, err := ScanValue(r.buf, nil); m != n || err != nil {
				r.t.Fatalf("Scanner found %d bytes, ScanValue %d, %v in %.80q", n, m, err, r.buf)
			}
			value := string(r.buf[:n])
			r.buf = r.buf[n:]
			return value
		}
		if err != codecs.ErrNeedMore {
			r.t.Fatalf("Scan: %v in %.80q", err, r.buf)
		}
		chunk := make([]byte, 4096)
		k, err := r.conn.Read(chunk)
		if err != nil {
			r.t.Fatalf("reading a reply after %.80q: %v", r.buf, err)
		}
		r.buf = append(r.buf, chunk[:k]...)
	}
}

// exchange pipelines the requests in one write and checks each reply; a
// want of "" only checks that the reply is an error.
func (r *redisConn) exchange(pairs [][2]string) {
	r.t.Helper()
	var pipeline []byte
	for _, p := range pairs {
		pipeline = AppendCommand(pipeline, words(p[0])...)
	}
	r.send(pipeline)
	for _, p := range pairs {
		got := r.reply()
		if p[1] == "" && IsError([]byte(got)) {
			continue
		}
		if got != p[1] {
			r.t.Errorf("%s: got %q, want %q", p[0], got, p[1])
		}
	}
}

// words splits a request written with | between arguments.
func words(s string) [][]byte {
	var args [][]byte
	for w := range strings.SplitSeq(s, "|") {
		args = append(args, []byte(w))
	}
	return args
}

// TestRedisServer sends requests built with AppendCommand to a real
// redis-server and parses every reply, RESP2 and then RESP3, with the
// Scanner and ScanValue, and the merge inspectors on the replies a proxy
// merges.
func TestRedisServer(t *testing.T) {
	addr := startRedis(t)
	big := strings.Repeat("0123456789", 20_000)
	resp2 := dialRedis(t, addr)
	resp2.exchange([][2]string{
		{"SET|k1|v1", "+OK\r\n"},
		{"SET|bin|a\r\nb\x00c", "+OK\r\n"},
		{"GET|bin", "$6\r\na\r\nb\x00c\r\n"},
		{"MSET|k2|v2|k3|v3", "+OK\r\n"},
		{"MGET|k1|missing|k3", "*3\r\n$2\r\nv1\r\n$-1\r\n$2\r\nv3\r\n"},
		{"EXISTS|k1|k2|missing", ":2\r\n"},
		{"DEL|k2|missing", ":1\r\n"},
		{"GET|missing", "$-1\r\n"},
		{"INCR|counter", ":1\r\n"},
		{"INCR|k1", "-ERR value is not an integer or out of range\r\n"},
		{"NOSUCHCOMMAND|x", ""},
		{"HSET|h|f|v", ":1\r\n"},
		{"HGETALL|h", "*2\r\n$1\r\nf\r\n$1\r\nv\r\n"},
		{"RPUSH|l|a|b", ":2\r\n"},
		{"LRANGE|l|0|-1", "*2\r\n$1\r\na\r\n$1\r\nb\r\n"},
		{"BLPOP|nolist|0.01", "*-1\r\n"},
		{"MULTI", "+OK\r\n"},
		{"INCR|counter", "+QUEUED\r\n"},
		{"INCR|k1", "+QUEUED\r\n"},
		{"EXEC", "*2\r\n:2\r\n-ERR value is not an integer or out of range\r\n"},
		{"SET|big|" + big, "+OK\r\n"},
		{"GET|big", "$200000\r\n" + big + "\r\n"},
		{"PING", "+PONG\r\n"},
	})

	// The replies a proxy merges, read with the inspectors.
	resp2.send(AppendCommand(nil, words("MGET|k1|missing")...))
	mget := []byte(resp2.reply())
	count, null, n, err := ReadArrayHeader(mget)
	if count != 2 || null || err != nil {
		t.Fatalf("ReadArrayHeader(%q) = %d, %v, %v", mget, count, null, err)
	}
	v, null, m, err := ReadBulk(mget[n:])
	if string(v) != "v1" || null || err != nil {
		t.Fatalf("ReadBulk = %q, %v, %v", v, null, err)
	}
	if _, null, _, err := ReadBulk(mget[n+m:]); !null || err != nil {
		t.Fatalf("ReadBulk of a missing key: null %v, %v", null, err)
	}
	resp2.send(AppendCommand(nil, words("EXISTS|k1|k3")...))
	if v, _, err := ReadInteger([]byte(resp2.reply())); v != 2 || err != nil {
		t.Fatalf("ReadInteger = %d, %v", v, err)
	}

	debug := debugProtocol(t, resp2)
	if debug {
		resp2.exchange([][2]string{
			{"DEBUG|PROTOCOL|double", "$5\r\n3.141\r\n"},
			{"DEBUG|PROTOCOL|null", "$-1\r\n"},
			{"DEBUG|PROTOCOL|map", "*6\r\n:0\r\n:0\r\n:1\r\n:1\r\n:2\r\n:0\r\n"},
			{"DEBUG|PROTOCOL|true", ":1\r\n"},
			{"DEBUG|PROTOCOL|attrib", "$39\r\nSome real reply following the attribute\r\n"},
			{"DEBUG|PROTOCOL|verbatim", "$25\r\nThis is a verbatim\nstring\r\n"},
		})
	}

	resp3 := dialRedis(t, addr)
	resp3.send(AppendCommand(nil, words("HELLO|3")...))
	if hello := resp3.reply(); !strings.HasPrefix(hello, "%") || !strings.Contains(hello, "$5\r\nproto\r\n:3\r\n") {
		t.Fatalf("HELLO 3 = %q", hello)
	}
	resp3.exchange([][2]string{
		{"HGETALL|h", "%1\r\n$1\r\nf\r\n$1\r\nv\r\n"},
		{"SADD|s|x", ":1\r\n"},
		{"SMEMBERS|s", "~1\r\n$1\r\nx\r\n"},
		{"MGET|k1|missing", "*2\r\n$2\r\nv1\r\n_\r\n"},
		{"GET|missing", "_\r\n"},
		{"HRANDFIELD|h|1|WITHVALUES", "*1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"},
		{"ZADD|z|1.5|m", ":1\r\n"},
		{"ZSCORE|z|m", ",1.5\r\n"},
		{"CONFIG|GET|maxmemory", "%1\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"},
	})
	if debug {
		resp3.exchange([][2]string{
			{"DEBUG|PROTOCOL|string", "$11\r\nHello World\r\n"},
			{"DEBUG|PROTOCOL|integer", ":12345\r\n"},
			{"DEBUG|PROTOCOL|double", ",3.141\r\n"},
			{"DEBUG|PROTOCOL|bignum", "(1234567999999999999999999999999999999\r\n"},
			{"DEBUG|PROTOCOL|null", "_\r\n"},
			{"DEBUG|PROTOCOL|array", "*3\r\n:0\r\n:1\r\n:2\r\n"},
			{"DEBUG|PROTOCOL|set", "~3\r\n:0\r\n:1\r\n:2\r\n"},
			{"DEBUG|PROTOCOL|map", mapReply},
			{"DEBUG|PROTOCOL|attrib", attribReply},
			{"DEBUG|PROTOCOL|verbatim", verbatimReply},
			{"DEBUG|PROTOCOL|true", "#t\r\n"},
			{"DEBUG|PROTOCOL|false", "#f\r\n"},
		})
		// A push, then the reply that follows it.
		resp3.send(AppendCommand(nil, words("DEBUG|PROTOCOL|push")...))
		for _, want := range []string{pushReply, "$40\r\nSome real reply following the push reply\r\n"} {
			if got := resp3.reply(); got != want {
				t.Errorf("DEBUG PROTOCOL push: got %q, want %q", got, want)
			}
		}
	}

	// Pushes a RESP3 client receives out of band: pub/sub messages and
	// client-side caching invalidations.
	resp3.exchange([][2]string{
		{"CLIENT|TRACKING|on", "+OK\r\n"},
		{"GET|k1", "$2\r\nv1\r\n"},
		{"SUBSCRIBE|ch", ">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"},
	})
	resp2.exchange([][2]string{{"PUBLISH|ch|hello", ":1\r\n"}, {"SET|k1|changed", "+OK\r\n"}})
	for _, want := range []string{
		">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n",
		">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\nk1\r\n",
	} {
		if got := resp3.reply(); got != want {
			t.Errorf("push: got %q, want %q", got, want)
		}
	}
}

// debugProtocol reports whether the server runs DEBUG PROTOCOL, which
// redis-server 7 allows only when enable-debug-command lets it.
func debugProtocol(t *testing.T, r *redisConn) bool {
	r.send(AppendCommand(nil, words("DEBUG|PROTOCOL|string")...))
	if reply := r.reply(); IsError([]byte(reply)) {
		t.Logf("DEBUG PROTOCOL unavailable (%q); skipping its replies", reply)
		return false
	}
	return true
}

// TestRedisServerInline sends inline requests to a real redis-server and
// checks that it splits them into the words DecodeCommand gives: each line
// pushes its words to a list, and the list comes back as the server
// parsed them.
func TestRedisServerInline(t *testing.T) {
	addr := startRedis(t)
	r := dialRedis(t, addr)
	lines := []string{
		`a b`,
		` "hello world"  c `,
		`"\x41\x7a\n\r\t\b\a\q\"\\"`,
		`'it\'s' 'x\ny' 'a\\b'`,
		`a"b c"`,
		`"" ''`,
		"a\vb \va\tc\rd",
		`x\"y z" "\x4g" "\xZZ"`,
		"\"caf\xc3\xa9\" \xff",
	}
	var cmd Command
	for i, words := range lines {
		key := "inline" + strconv.Itoa(i)
		line := "RPUSH " + key + " " + words + "\r\n"
		n, err := DecodeCommand([]byte(line), &cmd)
		if err != nil || n != len(line) {
			t.Fatalf("DecodeCommand(%q) = %d, %v", line, n, err)
		}
		want := strs(cmd.Args()[2:])
		r.send([]byte(line))
		if reply := r.reply(); reply != ":"+strconv.Itoa(len(want))+"\r\n" {
			t.Fatalf("%q: RPUSH replied %q; DecodeCommand found %q", line, reply, want)
		}
		r.send(AppendCommand(nil, []byte("LRANGE"), []byte(key), []byte("0"), []byte("-1")))
		list := []byte(r.reply())
		count, _, off, err := ReadArrayHeader(list)
		if err != nil || count != len(want) {
			t.Fatalf("%q: LRANGE = %q", line, list)
		}
		for j := range count {
			b, _, m, err := ReadBulk(list[off:])
			if err != nil || string(b) != want[j] {
				t.Fatalf("%q: redis-server word %d is %q, DecodeCommand's %q", line, j, b, want[j])
			}
			off += m
		}
	}
}

// TestRedisServerProtocolErrors sends malformed requests to a real
// redis-server and checks that AppendProtocolError gives the reply it
// sends before it closes the connection.
func TestRedisServerProtocolErrors(t *testing.T) {
	addr := startRedis(t)
	for _, req := range []string{
		"*1\r\n:1\r\n",
		"*1\r\nPING\r\n",
		"*x\r\n",
		"*01\r\n",
		"*1\r\n$-1\r\n",
		"*1\r\n$abc\r\n",
		"*1\r\n$01\r\n",
		"*1\r\n$536870913\r\n",
		"SET \"a\r\n",
		"SET \"a\"b\r\n",
		"SET 'a'b\r\n",
		"SET 'a\\\\'\r\n",
		strings.Repeat("a", DefaultMaxInline+1),
	} {
		var cmd Command
		_, decodeErr := DecodeCommand([]byte(req), &cmd)
		if decodeErr == nil || decodeErr == codecs.ErrNeedMore {
			t.Fatalf("DecodeCommand(%.40q): %v", req, decodeErr)
		}
		r := dialRedis(t, addr)
		r.send([]byte(req))
		got, err := io.ReadAll(r.conn)
		if err != nil {
			t.Fatalf("%.40q: reading until redis-server closes: %v", req, err)
		}
		if want := AppendProtocolError(nil, decodeErr); string(got) != string(want) {
			t.Errorf("%.40q: redis-server replied %q, AppendProtocolError gives %q", req, got, want)
		}
	}
}

// TestRedisServerInlineNUL shows why DecodeCommand refuses an inline
// request holding a NUL byte: redis-server stops reading the connection at
// it, so the requests pipelined after it get no reply.
func TestRedisServerInlineNUL(t *testing.T) {
	addr := startRedis(t)
	r := dialRedis(t, addr)
	r.send([]byte("PING\r\nECHO a\x00b\r\nPING\r\n"))
	if got := r.reply(); got != "+PONG\r\n" {
		t.Fatalf("first PING: %q", got)
	}
	if err := r.conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if k, err := r.conn.Read(make([]byte, 64)); k > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("redis-server answered after the NUL: %d bytes, %v", k, err)
	}
	if _, err := DecodeCommand([]byte("ECHO a\x00b\r\n"), &Command{}); err != ErrInlineNUL {
		t.Fatalf("DecodeCommand: %v, want ErrInlineNUL", err)
	}
}
