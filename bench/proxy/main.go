// Command proxybench holds the pieces bench/proxy/run.sh measures with: an
// HTTP server with a 26-byte body, the fault proxy, a TCP sink and a TCP
// stream writer, and the Toxiproxy API over many proxies in one process.
//
//	proxybench server -listen ADDR
//	proxybench proxy -listen ADDR -upstream ADDR [-protocol tcp|http] [-latency D]
//	proxybench toxiproxy -listen ADDR
//	proxybench sink -listen ADDR
//	proxybench stream -addr ADDR -for D
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gamedayhq/chaos/internal/inject/proxy"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: proxybench server|proxy|toxiproxy|sink|stream [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	upstream := fs.String("upstream", "", "proxy: upstream address")
	protocol := fs.String("protocol", "tcp", "proxy: tcp or http")
	latency := fs.Duration("latency", 0, "proxy: downstream latency fault")
	addr := fs.String("addr", "", "stream: address to write to")
	dur := fs.Duration("for", 5*time.Second, "stream: how long to write")
	fs.Parse(os.Args[2:])
	var err error
	switch os.Args[1] {
	case "server":
		err = serve(*listen)
	case "proxy":
		err = runProxy(*listen, *upstream, *protocol, *latency)
	case "toxiproxy":
		err = toxiproxy(*listen)
	case "sink":
		err = sink(*listen)
	case "stream":
		err = stream(*addr, *dur)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "proxybench:", err)
		os.Exit(1)
	}
}

func serve(listen string) error {
	body := []byte("abcdefghijklmnopqrstuvwxyz")
	return http.ListenAndServe(listen, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(body)
	}))
}

func runProxy(listen, upstream, protocol string, latency time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p := proxy.New(proxy.Config{Name: "bench", Listen: listen, Upstream: upstream, Protocol: protocol})
	if latency > 0 {
		if _, err := p.Add(proxy.Fault{Params: &proxy.Latency{Delay: latency}}); err != nil {
			return err
		}
	}
	if err := p.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return p.Close()
}

// toxiproxy serves Toxiproxy's API on listen, as chaos proxy does.
func toxiproxy(listen string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tp := proxy.NewToxiproxy("bench")
	defer tp.Close()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := proxy.NewAPIServer(proxy.NewToxiproxyAPI(tp, proxy.APIOptions{}))
	go srv.Serve(ln)
	<-ctx.Done()
	return srv.Close()
}

func sink(listen string) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			// Large reads, so that the sink is not what limits a stream.
			io.CopyBuffer(struct{ io.Writer }{io.Discard}, struct{ io.Reader }{c}, make([]byte, 256<<10))
			c.Close()
		}()
	}
}

// stream writes for d, then waits until the sink has read everything
// (it closes after EOF) and prints MiB/s over the whole time.
func stream(addr string, d time.Duration) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 256<<10)
	start := time.Now()
	var n int64
	for time.Since(start) < d {
		w, err := c.Write(buf)
		n += int64(w)
		if err != nil {
			return err
		}
	}
	c.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, c)
	fmt.Printf("%.0f\n", float64(n)/(1<<20)/time.Since(start).Seconds())
	return nil
}
