package redis

// How the proxy treats a command.
type cmdKind uint8

const (
	// kindSingle commands have one key, the first argument, and go to its
	// shard unchanged.
	kindSingle cmdKind = iota + 1
	// kindEval (EVAL, EVALSHA: script, numkeys, key, ...) go to the shard
	// of their first key, the third argument, as in twemproxy.
	kindEval
	// kindNoKey commands name no key; twemproxy sends them where the empty
	// key goes.
	kindNoKey
	// kindMGet is split by shard and the arrays merged in key order.
	kindMGet
	// kindSum commands (DEL, EXISTS, UNLINK, TOUCH) are split by shard and
	// their integer replies added.
	kindSum
	// kindMSet is split by shard, key-value pairs kept together; the reply
	// is +OK when every shard said so.
	kindMSet
	// kindPing, kindQuit and kindAuth are answered by the proxy itself.
	kindPing
	kindQuit
	kindAuth
	// kindRefuse commands close the connection without a reply, as
	// twemproxy does: MSETNX, which cannot be all-or-nothing across shards.
	kindRefuse
	// kindSwallow marks the proxy's own requests to a shard (AUTH, SELECT
	// after a connect), whose replies no client waits for.
	kindSwallow
)

// cmdSpec is how the proxy handles a command and the arguments it takes,
// the name included: exactly arity when arity > 0, at least -arity when
// arity < 0. A request with another count is refused as twemproxy refuses
// it: the connection is closed (see Proxy).
type cmdSpec struct {
	kind  cmdKind
	arity int8
}

// commands lists what the proxy serves: twemproxy's Redis commands (its
// nc_redis.c, with the argument counts it accepts), EXISTS split across
// shards like DEL, and PING with an optional message as redis-server
// answers it. Names are upper case. Any other command gets an error reply.
var commands = map[string]cmdSpec{
	"PING": {kindPing, -1}, "QUIT": {kindQuit, 1}, "AUTH": {kindAuth, -2},
	"COMMAND": {kindNoKey, 1}, "LOLWUT": {kindNoKey, -1},
	"MGET": {kindMGet, -2},
	"DEL":  {kindSum, -2}, "UNLINK": {kindSum, -2}, "EXISTS": {kindSum, -2}, "TOUCH": {kindSum, -2},
	"MSET":   {kindMSet, -3},
	"MSETNX": {kindRefuse, -1},
	"EVAL":   {kindEval, -4}, "EVALSHA": {kindEval, -4},
}

func init() {
	for arity, names := range map[int8][]string{
		// A key and nothing else (twemproxy's redis_arg0).
		2: {"PERSIST", "PTTL", "TTL", "TYPE", "DUMP", "DECR", "GET", "GETDEL", "INCR", "STRLEN",
			"HGETALL", "HKEYS", "HLEN", "HVALS", "LLEN", "SCARD", "SMEMBERS", "ZCARD"},
		// A key and one argument (redis_arg1).
		3: {"EXPIRE", "EXPIREAT", "PEXPIRE", "PEXPIREAT", "MOVE", "APPEND", "DECRBY", "GETBIT", "GETSET",
			"INCRBY", "INCRBYFLOAT", "SETNX", "HEXISTS", "HGET", "HSTRLEN", "LINDEX", "RPOPLPUSH",
			"SISMEMBER", "ZRANK", "ZREVRANK", "ZSCORE"},
		// A key and two arguments (redis_arg2).
		4: {"GETRANGE", "PSETEX", "SETBIT", "SETEX", "SETRANGE", "HINCRBY", "HINCRBYFLOAT", "HSETNX",
			"LRANGE", "LREM", "LSET", "LTRIM", "SMOVE", "ZCOUNT", "ZLEXCOUNT", "ZINCRBY",
			"ZREMRANGEBYLEX", "ZREMRANGEBYRANK", "ZREMRANGEBYSCORE"},
		// A key and three arguments (redis_arg3).
		5: {"LINSERT", "LMOVE"},
		// A key and any arguments (redis_argn). The ones whose first
		// argument is not a key (ZDIFF, ZINTER, ZUNION: numkeys) are
		// placed by it all the same, as twemproxy places them.
		-2: {"SORT", "COPY", "BITCOUNT", "BITPOS", "BITFIELD", "GETEX", "SET",
			"HDEL", "HMGET", "HMSET", "HSCAN", "HSET", "HRANDFIELD",
			"LPUSH", "LPUSHX", "RPUSH", "RPUSHX", "LPOP", "RPOP", "LPOS",
			"SADD", "SDIFF", "SDIFFSTORE", "SINTER", "SINTERSTORE", "SREM", "SUNION", "SUNIONSTORE",
			"SRANDMEMBER", "SSCAN", "SPOP", "SMISMEMBER",
			"PFADD", "PFMERGE", "PFCOUNT",
			"ZADD", "ZDIFF", "ZDIFFSTORE", "ZINTER", "ZINTERSTORE", "ZMSCORE", "ZPOPMAX", "ZPOPMIN",
			"ZRANDMEMBER", "ZRANGE", "ZRANGEBYLEX", "ZRANGEBYSCORE", "ZRANGESTORE", "ZREM", "ZREVRANGE",
			"ZREVRANGEBYLEX", "ZREVRANGEBYSCORE", "ZSCAN", "ZUNION", "ZUNIONSTORE",
			"GEODIST", "GEOPOS", "GEOHASH", "GEOADD", "GEORADIUS", "GEORADIUSBYMEMBER", "GEOSEARCH",
			"GEOSEARCHSTORE", "RESTORE"},
	} {
		for _, name := range names {
			commands[name] = cmdSpec{kindSingle, arity}
		}
	}
}

// fits reports whether n arguments (the name included) suit the command.
func (c cmdSpec) fits(n int) bool {
	switch {
	case c.kind == kindAuth:
		return n == 2 || n == 3 // AUTH password, AUTH username password
	case c.kind == kindMSet:
		return n >= 3 && n%2 == 1
	case c.arity > 0:
		return n == int(c.arity)
	}
	return n >= -int(c.arity)
}
