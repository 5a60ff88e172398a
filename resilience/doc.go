// Package resilience keeps calls to a dependency from taking a service down
// with it: timeouts, retries with backoff and a budget, circuit breakers,
// bulkheads and fallbacks, composed around a function
//
//	func(context.Context) (T, error)
//
// into a Pipeline built once and shared. The package uses only the standard
// library; resilience/httpx adapts it to net/http.
//
// # Policies
//
// Timeout bounds the time the rest of the pipeline may take by handing it a
// context with an earlier deadline. It does not derive a context when the
// caller's deadline is already earlier. Errors caused by its deadline match
// ErrTimeout; the caller's own deadline or cancellation is left as is.
//
// Retry calls the rest of the pipeline again after a failure, waiting an
// exponentially growing delay, capped and randomised (full jitter by
// default, so that clients failing together do not retry together). It
// never retries the caller's cancellation, an open breaker, a full
// bulkhead or a Permanent error; ShouldRetry decides about the others. An
// error carrying a RetryAfter() time.Duration method (a server's
// Retry-After) stretches the delay, up to a cap. Every retry needs a token
// from a Budget, which each call feeds with a share of a token, so that
// retries add at most that share to the load of a failing dependency. The
// error of a Retry that gave up is a *RetryError holding both the last
// attempt's error and the reason it stopped.
//
// Breaker counts outcomes in a sliding window, by number of calls or by
// time, cut into buckets that expire one at a time. Once the window holds
// MinimumCalls, a failure rate or slow-call rate at or above its threshold
// opens the breaker (so can a run of consecutive failures): calls fail at
// once with ErrOpen for OpenDuration, optionally backed off and jittered.
// Then exactly HalfOpenProbes calls are let through; if all succeed the
// breaker closes, if one fails it opens again. In a Pipeline a call that
// panics is a failure in every state, and the panic goes on. Each state
// change starts a new generation and outcomes of calls admitted in an
// older one are ignored. The caller's cancellation never counts as a
// failure; a call that ran out the caller's deadline does, as the
// dependency did not answer in time, unless it ran out waiting for a slot
// of a bulkhead inside the breaker, before the dependency was called. A
// breaker can be forced open or closed, reports state changes as events,
// and Snapshot reads its counts without a lock.
//
// Bulkhead limits how many calls run at once; others wait up to MaxWait,
// then fail with ErrBulkheadFull.
//
// Fallback turns chosen errors, ErrOpen and ErrBulkheadFull included, into
// a result: a cached value, a degraded answer.
//
// # Order
//
// NewPipeline takes the policies outermost first. The recommended order is
//
//	Fallback, Timeout (total), Retry, Breaker, Bulkhead, Timeout (attempt), call
//
// The fallback sees every failure, rejections included. The total timeout
// bounds the attempts and the waits between them. The retry sits outside
// the breaker so that each attempt is admitted, and counted, on its own,
// and an open breaker ends the retrying at once. The bulkhead sits inside
// the breaker so that a rejected call takes no slot, and its rejections
// are not counted as failures of the dependency. The attempt timeout is
// innermost, so that the breaker counts an attempt that timed out as a
// failure, and a slot is held no longer than one attempt.
//
// # Cost
//
// On the success path a pipeline allocates nothing, takes no lock and
// creates no closure. A closed breaker with a count-based window costs one
// atomic load to admit and one atomic add on a per-goroutine stripe to
// record: a stripe reads a line that other cores write only once per chunk
// of a bucket's calls, so parallel callers scale; an open one rejects with one atomic load, because a timer, not
// the calls, moves it to half-open. Only slow-call detection and
// time-based windows read the clock on every call. An attempt timeout costs
// what context.WithDeadline costs, and nothing when the caller's deadline
// is already earlier.
//
// # Events and tests
//
// Each policy's settings take an OnEvent hook that receives every decision
// (a retry scheduled with its delay, a rejection and why, a state change, a
// budget refusal, a timeout, a fallback) as an Event value; successful
// calls report nothing. Clock and Rand settings replace the system clock
// and random source, so that tests control time and never sleep.
package resilience
