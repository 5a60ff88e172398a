package load

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
)

// ErrUnanswered is an HTTP request written on a kept-alive connection that
// closed, or was reset, before any answer came.
var ErrUnanswered = errors.New("the connection closed after the request was sent, before any answer")

// OneAttempt returns req with a trace that keeps net/http from sending it
// a second time over HTTP/1. On its own, net/http sends an idempotent
// request again, on another connection, when the kept-alive connection it
// was written on closes or resets before the answer begins: a server that
// received the request and dropped it, or died with it, would then show
// the answer to the second request, and a stream or a probe would count a
// success. cancel must cancel req's context: the second attempt is
// canceled, and its connection closed before the request is written on
// it. unanswered reports whether that happened; the request then failed,
// and ErrUnanswered says how.
//
// HTTP/2 is left alone: it sends a request again only when the server
// said it did not process it (a GOAWAY, REFUSED_STREAM).
func OneAttempt(req *http.Request, cancel context.CancelFunc) (_ *http.Request, unanswered func() bool) {
	var written, again atomic.Bool
	trace := &httptrace.ClientTrace{
		WroteRequest: func(w httptrace.WroteRequestInfo) {
			if w.Err == nil {
				written.Store(true)
			}
		},
		GotConn: func(info httptrace.GotConnInfo) {
			if !written.Load() || isHTTP2(info) {
				return
			}
			again.Store(true)
			cancel()
			info.Conn.Close()
		},
	}
	ctx := httptrace.WithClientTrace(req.Context(), trace)
	return req.WithContext(ctx), again.Load
}

func isHTTP2(info httptrace.GotConnInfo) bool {
	tc, ok := info.Conn.(*tls.Conn)
	return ok && tc.ConnectionState().NegotiatedProtocol == "h2"
}
