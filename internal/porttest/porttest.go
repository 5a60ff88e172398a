// Package porttest hands tests free loopback ports that stay free until
// they are bound.
package porttest

import (
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
)

var (
	mu     sync.Mutex
	handed = map[int]bool{}
)

// Free returns a free loopback port below the kernel's range of ephemeral
// ports (32768 and up on Linux), never the same twice in one process: a
// run binds it later, and meanwhile no outgoing connection, of this test
// or another, can be given it, nor a second call the same port.
func Free() (int, error) {
	mu.Lock()
	defer mu.Unlock()
	for range 100 {
		p := 20000 + rand.IntN(12000)
		if handed[p] {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err == nil {
			l.Close()
			handed[p] = true
			return p, nil
		}
	}
	return 0, errors.New("no free loopback port between 20000 and 32000")
}
