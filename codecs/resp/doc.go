// Package resp reads and writes the Redis serialization protocol, RESP2 and
// RESP3, as pure functions over borrowed bytes. It is the codec of a sharding
// Redis proxy that runs on an event loop: the proxy decodes the requests a
// client pipelines, routes each by key, forwards the request bytes unchanged,
// finds where each server reply ends, and inspects the replies it merges.
//
// [DecodeCommand] decodes one request, either a RESP array of bulk strings or
// an inline command (a line of words, as typed in telnet), exactly as
// redis-server splits it, quoting and escapes included. It reports the number
// of bytes the request took, so the proxy forwards in[:n] without
// re-encoding; [Command.Decode] does the same for a request that arrives
// over many reads, resuming where the last read stopped, so that a request
// of a million arguments costs time in proportion to its size rather than
// to its size times the number of reads. [ScanValue] returns the length of one complete value of any
// RESP2 or RESP3 type, nested aggregates and attributes included; a
// [Scanner] does the same for a large reply that arrives in many reads
// without scanning its start again on every read. [ReadInteger],
// [ReadBulk], [ReadArrayHeader] and [IsError] inspect the replies a proxy
// merges (MGET arrays, DEL and EXISTS counts, errors passed through), and the
// Append functions encode requests for the shards and replies for the client
// into caller-owned buffers.
//
// Every decoder returns codecs.ErrNeedMore while its input is a valid but
// incomplete prefix, and reports a malformation as soon as the bytes that
// show it are present, so a longer input never turns an error into success.
// Each malformation has its own error value, which matches one of the
// exported sentinels under errors.Is and whose message can label a counter;
// [AppendProtocolError] turns it into the reply redis-server sends for the
// same fault. With a reused [Command] or [Scanner], nothing here allocates
// in steady state.
//
// [Limits] bounds what a peer can make the caller buffer and parse, with
// the defaults of redis-server where it has one:
//
//   - MaxBulk, the longest bulk string: 512 MiB, redis-server's
//     proto-max-bulk-len;
//   - MaxArgs, the most arguments of a request: 1,048,576 (1024*1024, the
//     multibulk count older redis-servers accept; 7.0 accepts 2^31-1);
//   - MaxRequest, the longest array request, and so the most of one
//     unfinished request a caller buffers: 1 GiB, redis-server's
//     client-query-buffer-limit;
//   - MaxInline, the longest inline request or reply line: 64 KiB,
//     redis-server's PROTO_INLINE_MAX_SIZE;
//   - MaxDepth, the deepest nesting of reply aggregates: 64.
//
// Each is checked as soon as the bytes that break it are present: a count
// or length line that announces too much fails before the data it
// announces arrives. The error wraps [ErrTooLarge] (or [ErrTooDeep]), and
// [AppendProtocolError] words it as redis-server does, such as
// "-ERR Protocol error: invalid bulk length"; for MaxRequest, which
// redis-server enforces by closing the connection without a reply, it is
// "-ERR Protocol error: too big request".
//
// The functions are pure and safe from any goroutine. A [Command] or
// [Scanner] is not safe for concurrent use: any goroutine may use one, one
// at a time, which for a proxy is the event loop of the connection it
// serves.
//
// A pipeline names the codec and its limits in its spec; for example
//
//	{"kind": "resp", "max_bulk": 536870912, "max_args": 1048576, "max_request": 1073741824, "max_inline": 65536, "max_depth": 64}
//
// sets every limit to its default. The fields map one to one onto [Limits].
package resp
