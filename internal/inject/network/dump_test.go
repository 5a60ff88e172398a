package network

import (
	"errors"
	"testing"

	"github.com/vishvananda/netlink"
)

// A netlink dump that devices changed under is made again, and one that
// never settles ends with its error rather than a half list.
func TestDumpAgainWhenInterrupted(t *testing.T) {
	calls := 0
	got, err := dump(func() ([]int, error) {
		calls++
		if calls < 3 {
			return []int{1}, netlink.ErrDumpInterrupted
		}
		return []int{1, 2}, nil
	})
	if err != nil || len(got) != 2 || calls != 3 {
		t.Errorf("dump = %v, %v after %d calls; want [1 2], nil after 3", got, err, calls)
	}
	calls = 0
	_, err = dump(func() ([]int, error) { calls++; return nil, netlink.ErrDumpInterrupted })
	if !errors.Is(err, netlink.ErrDumpInterrupted) || calls != 10 {
		t.Errorf("dump that never settles = %v after %d calls; want ErrDumpInterrupted after 10", err, calls)
	}
}
