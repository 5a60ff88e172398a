package load

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"syscall"
)

// Error classes counted in Window.Errors, besides StatusClass(code) for
// answers whose status is not a success.
const (
	// ClassTimeout: the request did not complete within its timeout.
	ClassTimeout = "timeout"
	// ClassRefused: nothing listened at the address.
	ClassRefused = "refused"
	// ClassReset: the connection was reset or closed before the answer ended.
	ClassReset = "reset"
	// ClassMaxInflight: the request was not sent because MaxInflight
	// requests were already waiting for an answer.
	ClassMaxInflight = "max_inflight"
	// ClassOther: any other failure (DNS, TLS, a malformed answer, ...).
	ClassOther = "other"
)

// StatusClass is the error class of an answer with an unsuccessful status
// code, such as "status_503".
func StatusClass(code int) string {
	return "status_" + strconv.Itoa(code)
}

// Classify names the class of a failed request's error. A nil error has the
// empty class.
func Classify(err error) string {
	if err == nil {
		return ""
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, syscall.ETIMEDOUT),
		errors.As(err, &ne) && ne.Timeout():
		return ClassTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return ClassRefused
	case errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, ErrUnanswered),
		// net/http reports a connection closed before any answer as a bare EOF.
		errors.Is(err, io.EOF):
		return ClassReset
	}
	return ClassOther
}
