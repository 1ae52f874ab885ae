// Package redis is a sharding Redis proxy on the event loop, a drop-in for
// twemproxy: keys are placed with ketama over fnv1a_64 exactly as
// twemproxy places them for the same server list, so a deployment can
// switch without moving data. Pipelining is kept (replies go back in
// request order), MGET, MSET, DEL, EXISTS, UNLINK and TOUCH are split
// across shards and answered as one, and a command the proxy cannot place
// gets a RESP error. A shard that is down answers its keys with errors and
// is tried again after RetryAfter.
//
// Every client and shard connection of one event loop lives on that loop:
// each loop keeps one pipelined connection per shard, shared by its
// clients, as twemproxy does per worker.
//
// A client's requests are parsed as they arrive, a request that spans many
// reads resuming where the last read stopped, so a request costs time in
// proportion to its size and a client trickling a huge one cannot starve
// the others on its loop. Config.Limits bounds what a client may send, with
// the defaults of redis-server: an argument of at most 512 MiB
// (proto-max-bulk-len), at most 1,048,576 arguments, an array request of at
// most 1 GiB (client-query-buffer-limit, which bounds what the proxy holds
// of a client's unfinished request) and an inline request of at most 64
// KiB. A client that exceeds a limit, or sends malformed input, gets
// "-ERR Protocol error: ..." as from redis-server, after the replies to its
// earlier requests; then the proxy closes its side of the connection and
// discards whatever else the client sends. Other clients are unaffected.
package redis

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/penstock-proxy/penstock/codecs/resp"
	"github.com/penstock-proxy/penstock/l4"
	"github.com/penstock-proxy/penstock/transport"
)

// Config configures a Proxy.
type Config struct {
	// Servers are the shards in twemproxy's order; placement depends on
	// their names (or addresses) and weights, as in twemproxy.
	Servers []l4.KetamaServer
	// HashTag, two characters such as "{}", hashes only the part of a key
	// between them when present (twemproxy's hash_tag).
	HashTag string
	// ConnectTimeout bounds a shard connect (default 1s).
	ConnectTimeout time.Duration
	// RetryAfter is how long a shard whose connect failed answers errors
	// before it is tried again (default 1s).
	RetryAfter time.Duration
	// MaxPending bounds a client's requests in flight; past it the client
	// is not read until replies go out (default 4096).
	MaxPending int
	// Limits bound the requests clients send and the replies shards send;
	// a zero field takes the default of package resp, which is
	// redis-server's: MaxBulk, the longest argument, 512 MiB; MaxArgs, the
	// most arguments of a request, 1,048,576; MaxRequest, the longest
	// array request and so the most the proxy buffers of a client's
	// unfinished request, 1 GiB; MaxInline, the longest inline request or
	// reply line, 64 KiB; MaxDepth, the deepest reply nesting, 64. A
	// deployment whose clients send no huge requests can set MaxRequest
	// far lower to bound the memory one client can hold.
	Limits resp.Limits
	Logger *slog.Logger
}

// Proxy is a sharding Redis proxy. Its Accept method is a
// transport.Listener's Accept func. It is safe from any goroutine.
type Proxy struct {
	cfg    Config
	ketama *l4.Ketama
	log    *slog.Logger
	// pendingCap is the capacity past which a client's pending input is
	// not doubled: the longest request the limits accept, and a read.
	pendingCap int

	mu    sync.Mutex
	loops map[transport.Loop]*loopState
}

// New checks cfg and returns a Proxy. It is safe from any goroutine.
func New(cfg Config) (*Proxy, error) {
	if len(cfg.Servers) == 0 {
		return nil, errors.New("penstock/redis: no servers")
	}
	if cfg.HashTag != "" && len(cfg.HashTag) != 2 {
		return nil, fmt.Errorf("penstock/redis: hash tag %q must be two characters", cfg.HashTag)
	}
	k, err := l4.NewKetama(cfg.Servers)
	if err != nil {
		return nil, fmt.Errorf("penstock/redis: %w", err)
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = time.Second
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = time.Second
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 4096
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	maxRequest := cfg.Limits.MaxRequest
	if maxRequest <= 0 {
		maxRequest = resp.DefaultMaxRequest
	}
	pendingCap := int(min(maxRequest, math.MaxInt32)) + maxKeptPending
	return &Proxy{cfg: cfg, ketama: k, log: log, pendingCap: pendingCap, loops: map[transport.Loop]*loopState{}}, nil
}

// Accept serves a client stream. It is loop only: it runs on the stream's
// loop, as a transport.Listener's Accept does.
func (p *Proxy) Accept(s transport.Stream) {
	c := &client{p: p, ls: p.loopState(s.Loop()), s: s}
	c.cmd.Limits = p.cfg.Limits
	s.SetHandler(c)
}

func (p *Proxy) pick(key []byte) int {
	return p.ketama.Pick(l4.HashKey(key, p.cfg.HashTag))
}

var (
	_ transport.Handler = (*client)(nil)
	_ transport.Handler = (*shard)(nil)
)
