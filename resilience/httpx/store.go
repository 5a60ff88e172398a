package httpx

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gamedayhq/chaos/resilience"
)

// MemoryStore is a Store in memory. Records, finished or in flight, expire
// TTL after they were last written; expired ones are swept as new keys
// arrive, so it starts no goroutine.
type MemoryStore struct {
	ttl   time.Duration
	clock resilience.Clock

	mu      sync.Mutex
	records map[string]memoryRecord
	swept   time.Time
}

// errUnknownKey is returned by MemoryStore.Save for a key not reserved.
var errUnknownKey = errors.New("idempotency key not reserved")

type memoryRecord struct {
	Record
	expires time.Time
}

// NewMemoryStore returns an empty MemoryStore keeping records for ttl (24h
// if zero). A nil clock means the system clock.
func NewMemoryStore(ttl time.Duration, clock resilience.Clock) *MemoryStore {
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	if clock == nil {
		clock = systemClock{}
	}
	return &MemoryStore{ttl: ttl, clock: clock, records: make(map[string]memoryRecord), swept: clock.Now()}
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) AfterFunc(d time.Duration, f func()) resilience.Timer { return time.AfterFunc(d, f) }

// Reserve implements Store.
func (s *MemoryStore) Reserve(_ context.Context, key, fingerprint string) (Record, bool, error) {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.swept) >= s.ttl/2 {
		for k, r := range s.records {
			if !now.Before(r.expires) {
				delete(s.records, k)
			}
		}
		s.swept = now
	}
	if r, ok := s.records[key]; ok && now.Before(r.expires) {
		return r.Record, false, nil
	}
	s.records[key] = memoryRecord{Record: Record{Fingerprint: fingerprint}, expires: now.Add(s.ttl)}
	return Record{}, true, nil
}

// Save implements Store.
func (s *MemoryStore) Save(_ context.Context, key string, r Record) error {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.records[key]; !ok {
		return fmt.Errorf("save %q: %w", key, errUnknownKey)
	}
	s.records[key] = memoryRecord{Record: r, expires: now.Add(s.ttl)}
	return nil
}

// Release implements Store.
func (s *MemoryStore) Release(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, key)
	return nil
}

// Len returns the number of records held, expired ones not yet swept
// included.
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records)
}
