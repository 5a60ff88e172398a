// Command app is the system under test of the verdict truth table
// (cmd/chaos/truth_test.go), run by the experiments in
// cmd/chaos/testdata/truth:
//
//	app backend    serves /data (a fixed body of -size bytes) and /health
//	app front      serves / by fetching -path from -backend, and answers
//	               "len=N" with the length of what it got, or 502
//	app supervise  runs "app backend" on a listening socket it holds, and
//	               with -restart starts it again when it dies
//	app work       serves / at a cost in CPU, memory and disk (work.go)
//
// Each defence against a fault is a flag of the front (-timeout, -replica,
// -fallback, -read framed) or of the supervisor (-restart), so that the same
// experiment runs against a fragile and a robust target.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: app backend|front|supervise|work [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "backend":
		err = backendMain(os.Args[2:])
	case "front":
		err = frontMain(os.Args[2:])
	case "supervise":
		err = superviseMain(os.Args[2:])
	case "work":
		err = workMain(os.Args[2:])
	default:
		err = fmt.Errorf("unknown role %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "app:", err)
		os.Exit(1)
	}
}

// listen returns the listener on addr, or the inherited one at fd, and
// writes the pid file once it listens.
func listen(addr string, fd int, pidFile string) (net.Listener, error) {
	var l net.Listener
	var err error
	if fd > 0 {
		f := os.NewFile(uintptr(fd), "listener")
		l, err = net.FileListener(f)
		f.Close()
	} else {
		l, err = net.Listen("tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	if pidFile != "" {
		// Write then rename, so that nobody reads a half-written file.
		if err := os.WriteFile(pidFile+".tmp", []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			return nil, err
		}
		if err := os.Rename(pidFile+".tmp", pidFile); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// serve serves h on l until SIGTERM or SIGINT.
func serve(l net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func backendMain(args []string) error {
	fs := flag.NewFlagSet("app backend", flag.ExitOnError)
	addr := fs.String("listen", "127.0.0.1:0", "address to listen on")
	fd := fs.Int("fd", 0, "serve on this inherited listening socket instead")
	pidFile := fs.String("pidfile", "", "write the pid to this file")
	size := fs.Int("size", 4096, "bytes of /data")
	fs.Parse(args)
	data := bytes.Repeat([]byte("abcdefghijklmnopqrstuvwxyz0123456789\n"), *size/37+1)[:*size]
	l, err := listen(*addr, *fd, *pidFile)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/data", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data)
	})
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	return serve(l, mux)
}

func frontMain(args []string) error {
	fs := flag.NewFlagSet("app front", flag.ExitOnError)
	addr := fs.String("listen", "127.0.0.1:0", "address to listen on")
	backend := fs.String("backend", "", "host:port of the backend")
	replica := fs.String("replica", "", "host:port of a second backend, asked when the first fails")
	path := fs.String("path", "/data", "what to fetch from the backend")
	timeout := fs.Duration("timeout", 0, "give up on a backend after this long (0: wait for ever)")
	fallback := fs.Bool("fallback", false, "when every backend fails, serve the last good answer")
	read := fs.String("read", "framed", "how to read the backend's answer: framed (by its Content-Length), eof (until the connection closes) or once (one read)")
	fs.Parse(args)
	switch *read {
	case "framed", "eof", "once":
	default:
		return fmt.Errorf("-read %q: want framed, eof or once", *read)
	}
	l, err := listen(*addr, 0, "")
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var last []byte
	fetch := func(backend string) ([]byte, error) {
		return fetchHTTP10(backend, *path, *timeout, *read)
	}
	return serve(l, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		body, err := fetch(*backend)
		if err != nil && *replica != "" {
			body, err = fetch(*replica)
		}
		mu.Lock()
		switch {
		case err == nil:
			last = body
		case *fallback && last != nil:
			body, err = last, nil
		}
		mu.Unlock()
		if err != nil {
			http.Error(w, "error: "+err.Error(), http.StatusBadGateway)
			return
		}
		fmt.Fprintf(w, "len=%d\n", len(body))
	}))
}

// fetchHTTP10 asks addr for path in HTTP/1.0, so that the backend closes
// the connection after its answer, and reads the answer the way read says.
func fetchHTTP10(addr, path string, timeout time.Duration, read string) ([]byte, error) {
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, addr); err != nil {
		return nil, err
	}
	switch read {
	case "framed":
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body) // exactly Content-Length bytes, or an error
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("backend answered %s", resp.Status)
		}
		return body, nil
	case "eof":
		raw, err := io.ReadAll(conn)
		if err != nil {
			return nil, err
		}
		return splitHTTP(raw)
	default: // once
		buf := make([]byte, 1<<20)
		n, err := conn.Read(buf)
		if err != nil {
			return nil, err
		}
		return splitHTTP(buf[:n])
	}
}

// splitHTTP returns the body of a raw answer, trusting it to be whole.
func splitHTTP(raw []byte) ([]byte, error) {
	head, body, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
	if !ok {
		return nil, fmt.Errorf("no end of the header in %d bytes", len(raw))
	}
	status, _, _ := strings.Cut(string(head), "\r\n")
	if f := strings.Fields(status); len(f) < 2 || f[1] != "200" {
		return nil, fmt.Errorf("backend answered %q", status)
	}
	return body, nil
}

func superviseMain(args []string) error {
	fs := flag.NewFlagSet("app supervise", flag.ExitOnError)
	addr := fs.String("listen", "127.0.0.1:0", "address to listen on")
	pidFile := fs.String("pidfile", "", "the backend writes its pid to this file")
	restart := fs.Bool("restart", false, "start the backend again when it dies")
	fs.Parse(args)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	for starts := 0; ; starts++ {
		if starts == 100 {
			return errors.New("the backend died 100 times")
		}
		cmd := exec.Command(self, "backend", "-fd", "3", "-pidfile", *pidFile)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		cmd.ExtraFiles = []*os.File{f}
		if err := cmd.Start(); err != nil {
			return err
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case <-ctx.Done():
			cmd.Process.Signal(syscall.SIGTERM)
			<-exited
			return nil
		case err := <-exited:
			fmt.Fprintf(os.Stderr, "app supervise: backend %d ended: %v\n", cmd.Process.Pid, err)
		}
		if !*restart {
			// Gone for good, as without a supervisor; this process stays
			// only so that chaos sees its service still there.
			f.Close()
			l.Close()
			<-ctx.Done()
			return nil
		}
	}
}
