// Package redis is a sharding Redis proxy on the event loop, a drop-in for
// twemproxy: keys are placed with fnv1a_64 and ketama, modula or random
// exactly as twemproxy places them for the same server list, so a
// deployment can switch without moving data. Pipelining is kept (replies
// go back in request order), MGET, MSET, DEL, EXISTS, UNLINK and TOUCH are
// split across shards and answered as one, EVAL and EVALSHA go to the
// shard of their first key, and a command the proxy cannot place gets a
// RESP error.
//
// What a client sees is twemproxy's where a client could depend on it:
// QUIT, MSETNX (which cannot be all-or-nothing across shards), an empty
// request and a command with an argument count twemproxy refuses close the
// connection without a reply, after the replies to the requests before
// them; redis_auth (Config.Password) is answered with twemproxy's words;
// errors from shards say "Connection refused", "Connection reset by peer",
// "Broken pipe" or "Connection timed out" as twemproxy's strerror does, and
// a split command one of whose shards answers an error says "Invalid
// argument". Where it answers differently, it says more: an unsupported
// command gets "-ERR unsupported command" and the connection stays open
// (twemproxy closes it); malformed RESP gets redis-server's "-ERR Protocol
// error" before the close; inline commands and PING with a message work as
// with redis-server; "Invalid argument" is followed by the shard's error.
// A shard that is down answers its keys with errors, and is tried again
// after RetryAfter.
//
// Every client and shard connection of one event loop lives on that loop:
// each loop keeps one pipelined connection per shard, shared by its
// clients, as twemproxy does per worker.
//
// Requests and replies are parsed as they arrive, one that spans many
// reads resuming where the last read stopped, and a large one is taken
// over from the stream rather than handed back whole on every read, so a
// value costs time in proportion to its size and a client trickling a huge
// one cannot starve the others on its loop. A large reply is written to
// its client a piece at a time as the client reads it. Config.Limits
// bounds what a client may send, with the defaults of redis-server: an
// argument of at most 512 MiB (proto-max-bulk-len), at most 1,048,576
// arguments, an array request of at most 1 GiB (client-query-buffer-limit,
// which bounds what the proxy holds of a client's unfinished request) and
// an inline request of at most 64 KiB. A client that exceeds a limit, or
// sends malformed input, gets "-ERR Protocol error: ..." as from
// redis-server, after the replies to its earlier requests; then the proxy
// closes its side of the connection and discards whatever else the client
// sends. Other clients are unaffected.
package redis

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
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
	// Distribution places keys on Servers: "ketama" (the default),
	// "modula" or "random", as twemproxy's distribution of that name.
	Distribution string
	// ConnectTimeout bounds a shard connect (default 1s).
	ConnectTimeout time.Duration
	// Timeout bounds the wait for a shard's reply to a request it was
	// sent (twemproxy's timeout). Past it, that request and every other
	// in flight on the connection get "-ERR Connection timed out" and the
	// connection is closed, as twemproxy does, so that no late reply is
	// taken for another request's. Zero: no bound.
	Timeout time.Duration
	// RetryAfter is how long a shard whose connect failed answers errors
	// before it is tried again (default 1s; negative: every request tries
	// to connect, as twemproxy does without auto_eject_hosts).
	RetryAfter time.Duration
	// Password is twemproxy's redis_auth: when set, a client must send
	// AUTH with it before any other command (until then: -NOAUTH), and the
	// proxy sends AUTH with it on every shard connection. When empty, a
	// client's AUTH is refused with twemproxy's "-ERR Client sent AUTH, but
	// no password is set" and shards see no AUTH.
	Password string
	// User, when set with Password, is the Redis 6 ACL user the proxy
	// authenticates as on its shard connections (AUTH User Password).
	// Clients may send AUTH Password or AUTH User Password; without User,
	// AUTH default Password also passes, as with redis-server's
	// requirepass.
	User string
	// DB, when not 0, is the database every shard connection selects
	// (twemproxy's redis_db); clients cannot SELECT.
	DB int
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
	picker l4.Picker
	log    *slog.Logger
	// hello is what the proxy sends first on a shard connection: AUTH
	// and SELECT, as Password, User and DB ask; helloN counts its
	// requests.
	hello  []byte
	helloN int
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
	k, err := l4.NewPicker(cfg.Distribution, cfg.Servers)
	if err != nil {
		return nil, fmt.Errorf("penstock/redis: %w", err)
	}
	if cfg.User != "" && cfg.Password == "" {
		return nil, errors.New("penstock/redis: a user needs a password")
	}
	if cfg.DB < 0 {
		return nil, fmt.Errorf("penstock/redis: database %d is negative", cfg.DB)
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = time.Second
	}
	if cfg.RetryAfter == 0 {
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
	p := &Proxy{cfg: cfg, picker: k, log: log, pendingCap: pendingCap, loops: map[transport.Loop]*loopState{}}
	switch {
	case cfg.User != "":
		p.hello = resp.AppendCommand(p.hello, []byte("AUTH"), []byte(cfg.User), []byte(cfg.Password))
		p.helloN++
	case cfg.Password != "":
		p.hello = resp.AppendCommand(p.hello, []byte("AUTH"), []byte(cfg.Password))
		p.helloN++
	}
	if cfg.DB != 0 {
		p.hello = resp.AppendCommand(p.hello, []byte("SELECT"), strconv.AppendInt(nil, int64(cfg.DB), 10))
		p.helloN++
	}
	return p, nil
}

// Accept serves a client stream. It is loop only: it runs on the stream's
// loop, as a transport.Listener's Accept does.
func (p *Proxy) Accept(s transport.Stream) {
	c := &client{p: p, ls: p.loopState(s.Loop()), s: s}
	c.cmd.Limits = p.cfg.Limits
	s.SetHandler(c)
}

func (p *Proxy) pick(key []byte) int {
	return p.picker.Pick(l4.HashKey(key, p.cfg.HashTag))
}

var (
	_ transport.Handler = (*client)(nil)
	_ transport.Handler = (*shard)(nil)
)
