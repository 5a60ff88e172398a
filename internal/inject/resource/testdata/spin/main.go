// Command spin is a CPU-bound service for the resource fault tests: every
// GET /work burns a fixed amount of CPU before it answers. It prints the
// address it listens on.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func work(n int) uint64 {
	x := uint64(1)
	for i := range n {
		x = x*6364136223846793005 + uint64(i)
	}
	return x
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve on")
	iters := flag.Int("iters", 2_000_000, "loop iterations per request")
	flag.Parse()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sigs; os.Exit(0) }()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println(ln.Addr())
	http.HandleFunc("/work", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, work(*iters))
	})
	_ = http.Serve(ln, nil)
}
