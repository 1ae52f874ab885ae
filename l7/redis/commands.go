package redis

// How the proxy treats a command.
type cmdKind uint8

const (
	// kindSingle commands have one key, the first argument, and go to its
	// shard unchanged.
	kindSingle cmdKind = iota + 1
	// kindMGet is split by shard and the arrays merged in key order.
	kindMGet
	// kindSum commands (DEL, EXISTS, UNLINK, TOUCH) are split by shard and
	// their integer replies added.
	kindSum
	// kindMSet is split by shard, key-value pairs kept together; the reply
	// is +OK when every shard said so.
	kindMSet
	// kindPing and kindQuit are answered by the proxy itself.
	kindPing
	kindQuit
)

// commands lists what the proxy supports, as twemproxy does for Redis: the
// commands whose keys it can place, and a few it answers itself. Anything
// else gets an error reply. Names are upper case.
var commands = map[string]cmdKind{
	"PING": kindPing, "QUIT": kindQuit,
	"MGET": kindMGet, "MSET": kindMSet,
	"DEL": kindSum, "UNLINK": kindSum, "EXISTS": kindSum, "TOUCH": kindSum,
}

func init() {
	for _, name := range []string{
		// keys
		"EXPIRE", "EXPIREAT", "PEXPIRE", "PEXPIREAT", "PERSIST", "PTTL", "TTL", "TYPE", "DUMP", "RESTORE",
		// strings
		"GET", "SET", "SETNX", "SETEX", "PSETEX", "APPEND", "BITCOUNT", "BITPOS", "DECR", "DECRBY",
		"GETBIT", "GETRANGE", "GETSET", "GETDEL", "GETEX", "INCR", "INCRBY", "INCRBYFLOAT", "SETBIT",
		"SETRANGE", "STRLEN",
		// hashes
		"HDEL", "HEXISTS", "HGET", "HGETALL", "HINCRBY", "HINCRBYFLOAT", "HKEYS", "HLEN", "HMGET",
		"HMSET", "HSET", "HSETNX", "HVALS", "HSCAN", "HSTRLEN", "HRANDFIELD",
		// lists
		"LINDEX", "LINSERT", "LLEN", "LPOP", "LPOS", "LPUSH", "LPUSHX", "LRANGE", "LREM", "LSET",
		"LTRIM", "RPOP", "RPUSH", "RPUSHX",
		// sets
		"SADD", "SCARD", "SISMEMBER", "SMISMEMBER", "SMEMBERS", "SPOP", "SRANDMEMBER", "SREM", "SSCAN",
		// sorted sets
		"ZADD", "ZCARD", "ZCOUNT", "ZINCRBY", "ZLEXCOUNT", "ZMSCORE", "ZRANGE", "ZRANGEBYLEX",
		"ZRANGEBYSCORE", "ZRANK", "ZREM", "ZREMRANGEBYLEX", "ZREMRANGEBYRANK", "ZREMRANGEBYSCORE",
		"ZREVRANGE", "ZREVRANGEBYLEX", "ZREVRANGEBYSCORE", "ZREVRANK", "ZSCAN", "ZSCORE",
		// hyperloglog and geo, one key each
		"PFADD", "PFCOUNT", "GEOADD", "GEODIST", "GEOHASH", "GEOPOS", "GEORADIUS", "GEORADIUSBYMEMBER",
		"GEOSEARCH",
	} {
		commands[name] = kindSingle
	}
}
