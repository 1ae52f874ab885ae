package resp

import (
	"strconv"
	"strings"
)

// AppendArrayHeader appends the header of an array of n elements, "*n\r\n";
// the caller appends the n elements after it. An n of -1 writes the RESP2
// null array.
func AppendArrayHeader(dst []byte, n int) []byte {
	dst = strconv.AppendInt(append(dst, '*'), int64(n), 10)
	return append(dst, '\r', '\n')
}

// AppendBulk appends b as a bulk string, "$len\r\nb\r\n". b may hold any
// bytes, CR and LF included.
func AppendBulk(dst, b []byte) []byte {
	dst = strconv.AppendInt(append(dst, '$'), int64(len(b)), 10)
	dst = append(append(dst, '\r', '\n'), b...)
	return append(dst, '\r', '\n')
}

// AppendBulkString appends s as a bulk string, like [AppendBulk].
func AppendBulkString(dst []byte, s string) []byte {
	dst = strconv.AppendInt(append(dst, '$'), int64(len(s)), 10)
	dst = append(append(dst, '\r', '\n'), s...)
	return append(dst, '\r', '\n')
}

// AppendNullBulk appends the RESP2 null, "$-1\r\n", which a RESP2 client
// reads as a missing value (GET of a missing key, an MGET element).
func AppendNullBulk(dst []byte) []byte {
	return append(dst, "$-1\r\n"...)
}

// AppendNull appends the RESP3 null, "_\r\n", which a client that sent
// HELLO 3 receives where a RESP2 client receives "$-1" or "*-1".
func AppendNull(dst []byte) []byte {
	return append(dst, "_\r\n"...)
}

// AppendInt appends v as an integer reply, ":v\r\n".
func AppendInt(dst []byte, v int64) []byte {
	dst = strconv.AppendInt(append(dst, ':'), v, 10)
	return append(dst, '\r', '\n')
}

// AppendSimple appends s as a simple string reply, such as "+OK\r\n". CR
// and LF in s become spaces, so that s cannot end the reply early and
// inject another.
func AppendSimple(dst []byte, s string) []byte {
	return append(appendLine(append(dst, '+'), s), '\r', '\n')
}

// AppendError appends msg as an error reply, "-msg\r\n". msg starts with an
// error code, by convention upper case, as in "ERR unknown command" or
// "WRONGTYPE Operation against a key holding the wrong kind of value". CR
// and LF in msg become spaces, as redis-server does with its own errors, so
// that msg cannot end the reply early and inject another.
func AppendError(dst []byte, msg string) []byte {
	return append(appendLine(append(dst, '-'), msg), '\r', '\n')
}

// AppendCommand appends a request in array form, the form redis-server
// answers fastest: an array of args as bulk strings, the command name
// first, such as AppendCommand(dst, []byte("MGET"), key1, key2) for a shard's
// part of a split MGET. Passing a decoded [Command.Args] re-encodes a
// request, inline ones included.
func AppendCommand(dst []byte, args ...[]byte) []byte {
	dst = AppendArrayHeader(dst, len(args))
	for _, arg := range args {
		dst = AppendBulk(dst, arg)
	}
	return dst
}

// appendLine appends s with CR and LF replaced by spaces.
func appendLine(dst []byte, s string) []byte {
	for {
		i := strings.IndexAny(s, "\r\n")
		if i < 0 {
			return append(dst, s...)
		}
		dst = append(append(dst, s[:i]...), ' ')
		s = s[i+1:]
	}
}
