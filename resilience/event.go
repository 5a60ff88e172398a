package resilience

import "time"

// EventKind says which decision an Event reports.
type EventKind uint8

// The decisions policies report. A successful call reports nothing.
const (
	// EventRetry: an attempt failed and another is scheduled after Delay.
	EventRetry EventKind = iota + 1
	// EventRetryStopped: a Retry gave up; Err is the *RetryError.
	EventRetryStopped
	// EventBudgetExhausted: a retry was refused for lack of budget.
	EventBudgetExhausted
	// EventRejected: a breaker or bulkhead refused a call; Err says which.
	EventRejected
	// EventStateChange: a breaker moved From one state To another.
	EventStateChange
	// EventTimeout: a Timeout's deadline ended a call.
	EventTimeout
	// EventFallback: a Fallback replaced the error Err.
	EventFallback
)

var eventNames = [...]string{
	EventRetry:           "retry",
	EventRetryStopped:    "retry-stopped",
	EventBudgetExhausted: "budget-exhausted",
	EventRejected:        "rejected",
	EventStateChange:     "state-change",
	EventTimeout:         "timeout",
	EventFallback:        "fallback",
}

// String returns the kind's name, such as "retry".
func (k EventKind) String() string {
	if int(k) < len(eventNames) && eventNames[k] != "" {
		return eventNames[k]
	}
	return "unknown"
}

// Event is one decision taken by a policy. It is passed by value to the
// policy's OnEvent hook, which runs synchronously: it should be quick and
// must not block.
type Event struct {
	Kind EventKind
	// Policy is the Name from the policy's settings.
	Policy string
	// Attempt is the number of the attempt concerned, from 1 (retry events).
	Attempt int
	// Delay is the wait before the next attempt (EventRetry).
	Delay time.Duration
	// From and To are the breaker states (EventStateChange).
	From, To State
	// Err is the error behind the decision, if any.
	Err error
}
