// Command server is the process of the test containers: a small HTTP
// server that exits on SIGTERM, and its own healthcheck, since an image
// built FROM scratch has no shell nor curl.
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", ":8080", "address to serve on")
	probe := flag.Bool("probe", false, "check /health of the server in this container and exit 0 when it answers 200")
	ignoreTerm := flag.Bool("ignore-term", false, "ignore SIGTERM, so that only SIGKILL ends the process")
	readyAfter := flag.Duration("ready-after", 0, "wait this long before listening, as a service that loads its data first")
	lock := flag.String("lock", "", "refuse to start while this file exists; create it, and remove it on SIGTERM: a crash leaves it behind")
	flag.Parse()

	if *probe {
		c := http.Client{Timeout: 2 * time.Second}
		resp, err := c.Get("http://127.0.0.1" + *listen + "/health")
		if err != nil || resp.StatusCode != http.StatusOK {
			os.Exit(1)
		}
		os.Exit(0)
	}

	// As PID 1 the process gets no default signal handlers: without these a
	// stop would always wait for the full grace period.
	sigs := make(chan os.Signal, 1)
	if *ignoreTerm {
		signal.Ignore(syscall.SIGTERM)
		signal.Notify(sigs, syscall.SIGINT)
	} else {
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	}
	if *lock != "" {
		f, err := os.OpenFile(*lock, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, "server: another server holds the lock, or one crashed:", err)
			os.Exit(1)
		}
		f.Close()
	}
	go func() {
		<-sigs
		if *lock != "" {
			os.Remove(*lock)
		}
		os.Exit(0)
	}()

	time.Sleep(*readyAfter)
	host, _ := os.Hostname()
	http.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, host)
	})
	if err := http.ListenAndServe(*listen, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}
