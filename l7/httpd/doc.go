// Package httpd serves HTTP/1.1 on transport streams: it frames requests
// and responses with codecs/http1 on the stream's event loop and hands each
// request to a [Handler] as an [Exchange].
//
// A Handler runs on the event loop, so it must not block: it answers at
// once ([Exchange.Respond]), or starts work elsewhere and answers later
// from the loop (Loop().Execute), streaming the response with
// [Exchange.WriteHead], [Exchange.Write] and [Exchange.End]. The request
// body arrives in pieces through [Exchange.ReadBody], with
// [Exchange.PauseBody] pushing back on the client. Requests on one
// connection are served one after another; pipelined requests wait in the
// transport's input until the response before them ends.
//
// Code that blocks runs in a goroutine of its own and answers through
// Loop().Execute. [FromNetHTTP] does that for a net/http handler: each
// request runs it in its own goroutine with an *http.Request and an
// http.ResponseWriter built on the exchange. The request body streams
// through a bounded buffer that pauses the client while the handler does
// not read, and a write blocks while the client does not take the
// response, so neither is held in memory whole. Hijack takes the socket off
// the loop for the handler (WebSocket upgraders run unchanged), and
// http.ResponseController's Flush, EnableFullDuplex and read and write
// deadlines work as in net/http. The other direction has no adapter: a
// Handler needs an event loop, which net/http's server lacks.
//
// The server answers what the client got wrong itself: a malformed head or
// a smuggling attempt gets 400 (413, 414, 431, 501 or 505 where they fit,
// from [http1.StatusFor]) and the connection closes; a head that does not
// arrive within HeaderTimeout closes the connection with 408; an idle
// keep-alive connection closes after IdleTimeout.
package httpd
