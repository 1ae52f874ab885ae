package http2

import (
	"encoding/binary"
	"strconv"
)

// Preface is what a client sends first on every HTTP/2 connection (RFC 9113
// §3.4), before its SETTINGS frame. Its first bytes tell an HTTP/2 client
// from an HTTP/1.1 one on the same port.
const Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// FrameHeaderLen is the length of a frame header.
const FrameHeaderLen = 9

// FrameType is a frame's type (RFC 9113 §6).
type FrameType uint8

// The frame types of RFC 9113.
const (
	FrameData         FrameType = 0x0
	FrameHeaders      FrameType = 0x1
	FramePriority     FrameType = 0x2
	FrameRSTStream    FrameType = 0x3
	FrameSettings     FrameType = 0x4
	FramePushPromise  FrameType = 0x5
	FramePing         FrameType = 0x6
	FrameGoAway       FrameType = 0x7
	FrameWindowUpdate FrameType = 0x8
	FrameContinuation FrameType = 0x9
)

var frameNames = [...]string{"DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE", "PING", "GOAWAY", "WINDOW_UPDATE", "CONTINUATION"}

func (t FrameType) String() string {
	if int(t) < len(frameNames) {
		return frameNames[t]
	}
	return "UNKNOWN_FRAME_" + strconv.Itoa(int(t))
}

// Frame flags.
const (
	FlagEndStream  = 0x1
	FlagAck        = 0x1
	FlagEndHeaders = 0x4
	FlagPadded     = 0x8
	FlagPriority   = 0x20
)

// ErrCode is an error code of RST_STREAM and GOAWAY (RFC 9113 §7).
type ErrCode uint32

// The error codes of RFC 9113.
const (
	ErrCodeNo                 ErrCode = 0x0
	ErrCodeProtocol           ErrCode = 0x1
	ErrCodeInternal           ErrCode = 0x2
	ErrCodeFlowControl        ErrCode = 0x3
	ErrCodeSettingsTimeout    ErrCode = 0x4
	ErrCodeStreamClosed       ErrCode = 0x5
	ErrCodeFrameSize          ErrCode = 0x6
	ErrCodeRefusedStream      ErrCode = 0x7
	ErrCodeCancel             ErrCode = 0x8
	ErrCodeCompression        ErrCode = 0x9
	ErrCodeConnect            ErrCode = 0xa
	ErrCodeEnhanceYourCalm    ErrCode = 0xb
	ErrCodeInadequateSecurity ErrCode = 0xc
	ErrCodeHTTP11Required     ErrCode = 0xd
)

var errCodeNames = [...]string{"NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"}

func (c ErrCode) String() string {
	if int(c) < len(errCodeNames) {
		return errCodeNames[c]
	}
	return "ERROR_CODE_" + strconv.FormatUint(uint64(c), 16)
}

// Settings identifiers (RFC 9113 §6.5.2; RFC 8441 §3; RFC 9218 §2.1).
const (
	SettingHeaderTableSize       uint16 = 0x1
	SettingEnablePush            uint16 = 0x2
	SettingMaxConcurrentStreams  uint16 = 0x3
	SettingInitialWindowSize     uint16 = 0x4
	SettingMaxFrameSize          uint16 = 0x5
	SettingMaxHeaderListSize     uint16 = 0x6
	SettingEnableConnectProtocol uint16 = 0x8
	SettingNoRFC7540Priorities   uint16 = 0x9
)

const (
	defaultWindow       = 65535
	maxWindow           = 1<<31 - 1
	minMaxFrameSize     = 1 << 14
	maxMaxFrameSize     = 1<<24 - 1
	defaultHeaderTable  = 4096
	maxStreamID         = 1<<31 - 1
	defaultFrameSize    = minMaxFrameSize
	settingsEntryLength = 6
)

// frameHeader is a parsed frame header.
type frameHeader struct {
	length uint32
	typ    FrameType
	flags  uint8
	stream uint32
}

func parseFrameHeader(b []byte) frameHeader {
	return frameHeader{
		length: uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]),
		typ:    FrameType(b[3]),
		flags:  b[4],
		stream: binary.BigEndian.Uint32(b[5:9]) & maxStreamID,
	}
}

func (h frameHeader) has(f uint8) bool { return h.flags&f != 0 }

// appendFrameHeader appends a frame header.
func appendFrameHeader(dst []byte, length int, typ FrameType, flags uint8, stream uint32) []byte {
	return append(dst, byte(length>>16), byte(length>>8), byte(length), byte(typ), flags,
		byte(stream>>24), byte(stream>>16), byte(stream>>8), byte(stream))
}

func appendUint32(dst []byte, v uint32) []byte {
	return append(dst, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// AppendSettings appends a SETTINGS frame with the given identifier/value
// pairs (an ACK when ack is true and there are none).
func appendSettings(dst []byte, ack bool, kv ...uint32) []byte {
	var flags uint8
	if ack {
		flags = FlagAck
	}
	dst = appendFrameHeader(dst, len(kv)/2*settingsEntryLength, FrameSettings, flags, 0)
	for i := 0; i+1 < len(kv); i += 2 {
		dst = append(dst, byte(kv[i]>>8), byte(kv[i]))
		dst = appendUint32(dst, kv[i+1])
	}
	return dst
}

func appendRSTStream(dst []byte, stream uint32, code ErrCode) []byte {
	dst = appendFrameHeader(dst, 4, FrameRSTStream, 0, stream)
	return appendUint32(dst, uint32(code))
}

func appendWindowUpdate(dst []byte, stream, incr uint32) []byte {
	dst = appendFrameHeader(dst, 4, FrameWindowUpdate, 0, stream)
	return appendUint32(dst, incr)
}

func appendPing(dst []byte, ack bool, data []byte) []byte {
	var flags uint8
	if ack {
		flags = FlagAck
	}
	dst = appendFrameHeader(dst, 8, FramePing, flags, 0)
	return append(dst, data[:8]...)
}

func appendGoAway(dst []byte, last uint32, code ErrCode, debug string) []byte {
	dst = appendFrameHeader(dst, 8+len(debug), FrameGoAway, 0, 0)
	dst = appendUint32(dst, last)
	dst = appendUint32(dst, uint32(code))
	return append(dst, debug...)
}
