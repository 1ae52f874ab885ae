package redis

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/penstock-proxy/penstock/codecs/resp"
	"github.com/penstock-proxy/penstock/internal/testutil"
	"github.com/stretchr/testify/require"
)

// The proxy in front of one redis-server answers a random pipeline of
// commands byte for byte as a redis-server answers it directly: values
// from empty to past a megabyte (so that the large-message paths, their
// buffer reuse and piecewise writes all run), pipelines of 1 to 64
// commands written in random pieces. The seeds are fixed; a failure names
// the batch.
func TestProxyMatchesRedisDirectly(t *testing.T) {
	direct, _, _ := testutil.RedisServer(t)
	shard, _, _ := testutil.RedisServer(t)
	addr, _ := startProxyOn(t, []string{shard}, nil)
	rng := rand.New(rand.NewPCG(15, 2026))
	value := func() []byte {
		var n int
		switch rng.IntN(10) {
		case 0:
			n = 0
		case 1, 2:
			n = 4096 + rng.IntN(300_000) // past takeOver
		case 3:
			n = 1<<20 + rng.IntN(1<<20) // past largePiece
		default:
			n = rng.IntN(200)
		}
		v := make([]byte, n)
		for i := range v {
			v[i] = byte('a' + (i+n)%26)
		}
		return v
	}
	key := func() []byte { return fmt.Appendf(nil, "k%d", rng.IntN(12)) }
	command := func() [][]byte {
		switch rng.IntN(9) {
		case 0, 1:
			return [][]byte{[]byte("SET"), key(), value()}
		case 2:
			return [][]byte{[]byte("GET"), key()}
		case 3:
			return [][]byte{[]byte("APPEND"), key(), value()}
		case 4:
			return [][]byte{[]byte("MGET"), key(), key(), key()}
		case 5:
			return [][]byte{[]byte("DEL"), key(), key()}
		case 6:
			return [][]byte{[]byte("STRLEN"), key()}
		case 7:
			return [][]byte{[]byte("EXISTS"), key(), key()}
		default:
			return [][]byte{[]byte("GETRANGE"), key(), []byte("0"), []byte(fmt.Sprint(rng.IntN(5000)))}
		}
	}
	dialRaw := func(a string) (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", a)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReaderSize(c, 4096)
	}
	pc, pr := dialRaw(addr)
	dc, dr := dialRaw(direct)
	for batch := range 60 {
		var req []byte
		n := 1 + rng.IntN(64)
		for range n {
			req = resp.AppendCommand(req, command()...)
		}
		_ = pc.SetDeadline(time.Now().Add(30 * time.Second))
		_ = dc.SetDeadline(time.Now().Add(30 * time.Second))
		// The writer has a generator of its own: rng is the test's.
		wr := rand.New(rand.NewPCG(uint64(batch), 7))
		go func() {
			for off := 0; off < len(req); {
				end := min(len(req), off+1+wr.IntN(100_000))
				if _, err := pc.Write(req[off:end]); err != nil {
					return
				}
				off = end
			}
		}()
		_, err := dc.Write(req)
		require.NoError(t, err)
		want := readAll(t, dr, n)
		got := readAll(t, pr, n)
		if !bytes.Equal(got, want) {
			t.Fatalf("batch %d (%d commands, %d bytes): the proxy's %d bytes of replies differ from redis-server's %d", batch, n, len(req), len(got), len(want))
		}
	}
}

// readAll reads n whole replies from r and returns their bytes.
func readAll(t *testing.T, r *bufio.Reader, n int) []byte {
	t.Helper()
	var out []byte
	for range n {
		start := len(out)
		var s resp.Scanner
		for {
			line, err := r.ReadSlice('\n')
			if err != nil && err != bufio.ErrBufferFull {
				require.NoError(t, err)
			}
			out = append(out, line...)
			if _, err := s.Scan(out[start:]); err == nil {
				break
			}
			// A bulk string's data: read what its header announced.
			if need := s.Need(); need > len(out)-start {
				more := make([]byte, need-(len(out)-start))
				_, err := io.ReadFull(r, more)
				require.NoError(t, err)
				out = append(out, more...)
				if _, err := s.Scan(out[start:]); err == nil {
					break
				}
			}
		}
	}
	return out
}
