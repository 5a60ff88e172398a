package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"

	"github.com/spf13/cobra"

	"github.com/gamedayhq/chaos/internal/inject/proxy"
)

func newProxyCmd(io *stdio) *cobra.Command {
	var cfg proxy.Config
	var api, token string
	cmd := &cobra.Command{
		Use:   "proxy --listen ADDR --upstream ADDR",
		Short: "Run the fault proxy on its own, steered through a JSON API",
		Long: `proxy runs the fault proxy as a standalone process: point a service at
--listen instead of its dependency at --upstream, and add or remove faults
(latency, bandwidth, timeout, reset, down, slicer, limit_data, slow_close,
and with --protocol http also http_error and http_delay) through the control
API while traffic flows.

The API listens on loopback by default. Bound to any other address it
requires --token (or CHAOS_PROXY_TOKEN), sent as "Authorization: Bearer TOKEN".

  GET    /proxies                          list proxies and their stats
  GET    /proxies/NAME/faults              list active faults
  POST   /proxies/NAME/faults              add {"kind", "direction", "percent", "params"}
  DELETE /proxies/NAME/faults/ID           remove one fault
  DELETE /proxies/NAME/faults              remove every fault

A fault's params are those of the fault in an experiment file (durations as
strings such as "300ms"); direction is upstream, downstream (the default) or
both; percent is "30%" or 0.3 of the connections (of the requests for
http_error and http_delay), all of them when absent. Listed faults give
percent as a fraction. The stats' requests and requests_faulted count HTTP
requests, and the requests http_error and http_delay acted on.`,
		Example: `  chaos proxy --listen 127.0.0.1:9091 --upstream 127.0.0.1:9090 --protocol http
  curl -X POST localhost:8475/proxies/proxy/faults -d '{"kind":"latency","params":{"delay":"300ms"}}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if token == "" {
				token, _ = io.lookupEnv("CHAOS_PROXY_TOKEN")
			}
			host, _, err := net.SplitHostPort(api)
			if err != nil {
				return withCode(exitUsage, fmt.Errorf("--api %q: %v", api, err))
			}
			if !proxy.IsLoopback(host) && token == "" {
				return withCode(exitUsage, fmt.Errorf("--api %s is not a loopback address: set --token or CHAOS_PROXY_TOKEN so that strangers cannot inject faults", api))
			}
			if !proxyName.MatchString(cfg.Name) {
				return withCode(exitUsage, fmt.Errorf("--name %q: use letters, digits, '.', '_' and '-' only, as it goes into the API's paths", cfg.Name))
			}
			if err := cfg.Validate(); err != nil {
				// Its errors name the field, which is also the flag.
				return withCode(exitUsage, fmt.Errorf("--%v", err))
			}
			return runProxy(cmd.Context(), io, cfg, api, token)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", "", "accept connections on `ADDR`")
	f.StringVar(&cfg.Upstream, "upstream", "", "forward them to `ADDR`")
	f.StringVar(&cfg.Protocol, "protocol", "tcp", "tcp, or http for the HTTP faults")
	f.StringVar(&cfg.Name, "name", "proxy", "the proxy's name in the API")
	f.StringVar(&api, "api", "127.0.0.1:8475", "serve the control API on `ADDR`")
	f.StringVar(&token, "token", "", "require this bearer token on the API")
	cmd.MarkFlagRequired("listen")
	cmd.MarkFlagRequired("upstream")
	return cmd
}

var proxyName = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

func runProxy(ctx context.Context, io *stdio, cfg proxy.Config, api, token string) error {
	p := proxy.New(cfg)
	if err := p.Start(ctx); err != nil {
		return withCode(exitErr, err) // it says "start proxy NAME: ..."
	}
	defer p.Close()
	reg := proxy.NewRegistry()
	if err := reg.Add(p); err != nil {
		return withCode(exitErr, err)
	}
	bind, err := proxy.BindAddr(api)
	if err != nil {
		return withCode(exitUsage, fmt.Errorf("--api %q: %v", api, err))
	}
	l, err := net.Listen("tcp", bind)
	if err != nil {
		return withCode(exitErr, fmt.Errorf("control API: %w", err))
	}
	srv := proxy.NewAPIServer(proxy.NewAPI(reg, proxy.APIOptions{Token: token}))
	go srv.Serve(l)
	defer srv.Close()
	fmt.Fprintf(io.err, "chaos: proxy %q: %s -> %s (%s); control API on http://%s/proxies/%s\n", cfg.Name, p.Addr(), cfg.Upstream, cfg.Protocol, l.Addr(), cfg.Name)
	sigs, stop := io.signals()
	defer stop()
	select {
	case s := <-sigs:
		fmt.Fprintf(io.err, "chaos: %s: stopping the proxy\n", s)
	case <-ctx.Done():
	}
	if err := srv.Shutdown(context.Background()); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return withCode(exitErr, err)
	}
	return nil
}
