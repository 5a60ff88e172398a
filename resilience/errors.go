package resilience

import (
	"errors"
	"fmt"
)

// Sentinel errors, for callers that branch on why a call did not go through.
var (
	// ErrOpen is returned when a circuit breaker rejects a call: it is open,
	// forced open, or half-open with all of its probes taken.
	ErrOpen = errors.New("circuit breaker is open")
	// ErrBulkheadFull is returned when a bulkhead has no free slot within its
	// maximum wait.
	ErrBulkheadFull = errors.New("bulkhead is full")
	// ErrTimeout marks an error caused by a Timeout policy's deadline, as
	// opposed to the caller's own deadline.
	ErrTimeout = errors.New("timeout exceeded")
	// ErrRetriesExhausted is the stop reason when the last allowed attempt
	// failed.
	ErrRetriesExhausted = errors.New("retries exhausted")
	// ErrBudgetExhausted is the stop reason when the retry budget had no
	// token left.
	ErrBudgetExhausted = errors.New("retry budget exhausted")
	// ErrNotRetryable is the stop reason when the classifier refused to retry
	// the error.
	ErrNotRetryable = errors.New("not retryable")
	// ErrRetryAfterTooLong is the stop reason when the server asked to wait
	// longer than RetrySettings.MaxRetryAfter.
	ErrRetryAfterTooLong = errors.New("retry-after exceeds the limit")
)

// RetryError is returned by a Retry policy when it gives up. It keeps the
// last attempt's error and the reason retrying stopped; errors.Is and
// errors.As see both.
type RetryError struct {
	// Attempts is the number of attempts made, the first included.
	Attempts int
	// Reason is why retrying stopped: ErrRetriesExhausted,
	// ErrBudgetExhausted, ErrNotRetryable, ErrRetryAfterTooLong, or the
	// context's error when it ended during a wait.
	Reason error
	// Err is the last attempt's error.
	Err error
}

// Error says why retrying stopped, after how many attempts, and the last
// attempt's error.
func (e *RetryError) Error() string {
	s := "s"
	if e.Attempts == 1 {
		s = ""
	}
	return fmt.Sprintf("%v after %d attempt%s: %v", e.Reason, e.Attempts, s, e.Err)
}

// Unwrap returns the stop reason and the last attempt's error.
func (e *RetryError) Unwrap() []error { return []error{e.Reason, e.Err} }

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying, whatever the classifier says.
// errors.Is and errors.As still see err. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err, or an error it wraps, was marked with
// Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}
