package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"

	"github.com/spf13/cobra"

	"github.com/gamedayhq/chaos/internal/inject/proxy"
)

func newProxyCmd(io *stdio) *cobra.Command {
	var cfg proxy.Config
	var api, token, config string
	var trust bool
	cmd := &cobra.Command{
		Use:   "proxy [--api ADDR] [--config FILE] | --listen ADDR --upstream ADDR",
		Short: "Run fault proxies on their own: Toxiproxy's API, or one proxy with a JSON API",
		Long: `proxy runs the fault proxy as a standalone process, in one of two modes.

Without --listen and --upstream it serves Toxiproxy's HTTP API (version 2)
on --api (default 127.0.0.1:8474, Toxiproxy's port): Toxiproxy's clients
and config files work unchanged, with many proxies in one process.

  GET /version              POST /reset              POST /populate
  GET|POST /proxies         GET|POST|PATCH|DELETE /proxies/NAME
  GET|POST /proxies/NAME/toxics
  GET|POST|PATCH|DELETE /proxies/NAME/toxics/TOXIC

Toxics (attributes in Toxiproxy's units; stream upstream or downstream,
toxicity the share of connections hit):
  latency {latency, jitter: ms}     bandwidth {rate: KB/s}
  slow_close {delay: ms}            timeout {timeout: ms, 0 = never close}
  reset_peer {timeout: ms}          limit_data {bytes}
  slicer {average_size, size_variation: bytes; delay: µs}
and "enabled": false on a proxy for down. Extensions, beyond Toxiproxy:
  http_error {status, body, method, path_prefix, path_regex, header,
    header_value}, http_delay {delay, jitter: ms, and the same match}:
    on proxies created with "protocol": "http"; toxicity is then the
    share of requests hit
  down {} (with toxicity: a share of new connections reset)
  reset {after_bytes}: reset at once, or after that many bytes
  a running proxy's "traffic": counts that grow with the requests,
    bytes and connections through it as they go, since "since", and a
    toxic's "hits": the requests or connections it picked, for an HTTP
    toxic or a toxicity below 1 (an experiment's faults on an api:
    target compare readings to tell a fault that met nothing)
A proxy without listen gets 127.0.0.1 and a free port. Unknown fields and
attributes are errors rather than ignored. --config loads a file in
Toxiproxy's config format (the body of POST /populate: a JSON array of
{name, listen, upstream, enabled}), where each proxy may also list its
"toxics" as POST /proxies/NAME/toxics takes them. POST /populate keeps a
proxy with the same listen, upstream and protocol, and its connections;
one whose entry lists toxics then has those, and no others.

With --listen and --upstream it runs that one proxy, steered through a
small JSON API on --api (default 127.0.0.1:8475) whose faults are those of
experiment files:

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
requests, and the requests http_error and http_delay acted on.

Either API listens on loopback by default and then refuses requests from
web pages (an Origin header, or a Host that is not loopback). Bound to any
other address it requires --token (or CHAOS_PROXY_TOKEN), sent as
"Authorization: Bearer TOKEN"; with --trust-network it takes requests
without a token from anyone who can reach it (Toxiproxy's clients send
none), for a container on a private network. A request must arrive whole within 10s and
its body be at most 1 MiB; a proxy holds at most 100 faults or toxics, and
one process at most 1000 proxies.`,
		Example: `  chaos proxy                              # Toxiproxy's API on 127.0.0.1:8474
  chaos proxy --config toxiproxy.json --api 0.0.0.0:8474 --token "$TOKEN"
  curl -X POST localhost:8474/proxies -d '{"name":"redis","listen":"127.0.0.1:26379","upstream":"127.0.0.1:6379"}'
  curl -X POST localhost:8474/proxies/redis/toxics -d '{"type":"latency","attributes":{"latency":300}}'

  chaos proxy --listen 127.0.0.1:9091 --upstream 127.0.0.1:9090 --protocol http
  curl -X POST localhost:8475/proxies/proxy/faults -d '{"kind":"latency","params":{"delay":"300ms"}}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if token == "" {
				token, _ = io.lookupEnv("CHAOS_PROXY_TOKEN")
			}
			single := cmd.Flags().Changed("listen") || cmd.Flags().Changed("upstream")
			if single {
				switch {
				case cfg.Listen == "" || cfg.Upstream == "":
					return withCode(exitUsage, errors.New("--listen and --upstream go together: give both for one proxy, or neither for Toxiproxy's API"))
				case config != "":
					return withCode(exitUsage, errors.New("--config loads proxies for Toxiproxy's API: leave out --listen and --upstream"))
				}
			} else {
				for _, f := range []string{"protocol", "name"} {
					if cmd.Flags().Changed(f) {
						return withCode(exitUsage, fmt.Errorf("--%s sets the one proxy of --listen and --upstream; with Toxiproxy's API, each proxy gives its own", f))
					}
				}
			}
			if api == "" {
				api = "127.0.0.1:8474"
				if single {
					api = "127.0.0.1:8475"
				}
			}
			host, _, err := net.SplitHostPort(api)
			if err != nil {
				return withCode(exitUsage, fmt.Errorf("--api %q: %v", api, err))
			}
			loopback := proxy.IsLoopback(host)
			switch {
			case trust && (loopback || token != ""):
				return withCode(exitUsage, errors.New("--trust-network opens a non-loopback --api without a token: it goes with neither a loopback address nor --token"))
			case !loopback && token == "" && !trust:
				return withCode(exitUsage, fmt.Errorf("--api %s is not a loopback address: set --token or CHAOS_PROXY_TOKEN so that strangers cannot inject faults (or --trust-network, on a private network only)", api))
			}
			opts := proxy.APIOptions{Token: token, TrustNetwork: trust}
			if !single {
				return runToxiproxy(cmd.Context(), io, api, opts, config)
			}
			if !proxyName.MatchString(cfg.Name) {
				return withCode(exitUsage, fmt.Errorf("--name %q: use letters, digits, '.', '_' and '-' only, as it goes into the API's paths", cfg.Name))
			}
			if err := cfg.Validate(); err != nil {
				// Its errors name the field, which is also the flag.
				return withCode(exitUsage, fmt.Errorf("--%v", err))
			}
			return runProxy(cmd.Context(), io, cfg, api, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", "", "run one proxy: accept connections on `ADDR`")
	f.StringVar(&cfg.Upstream, "upstream", "", "and forward them to `ADDR`")
	f.StringVar(&cfg.Protocol, "protocol", "tcp", "the one proxy's protocol: tcp, or http for the HTTP faults")
	f.StringVar(&cfg.Name, "name", "proxy", "the one proxy's name in the API")
	f.StringVar(&api, "api", "", "serve the API on `ADDR` (default 127.0.0.1:8474, or 127.0.0.1:8475 for one proxy)")
	f.StringVar(&config, "config", "", "create the proxies in `FILE` (Toxiproxy's config format) at start")
	f.StringVar(&token, "token", "", "require this bearer token on the API")
	f.BoolVar(&trust, "trust-network", false, "serve a non-loopback --api without a token, to anyone who reaches it (a container's private network)")
	return cmd
}

var proxyName = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// listenAPI binds the API address, never looking up a loopback name.
func listenAPI(api string) (net.Listener, error) {
	bind, err := proxy.BindAddr(api)
	if err != nil {
		return nil, withCode(exitUsage, fmt.Errorf("--api %q: %v", api, err))
	}
	l, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, withCode(exitErr, fmt.Errorf("control API: %w", err))
	}
	return l, nil
}

func runProxy(ctx context.Context, io *stdio, cfg proxy.Config, api string, opts proxy.APIOptions) error {
	p := proxy.New(cfg)
	if err := p.Start(ctx); err != nil {
		return withCode(exitErr, err) // it says "start proxy NAME: ..."
	}
	defer p.Close()
	reg := proxy.NewRegistry()
	if err := reg.Add(p); err != nil {
		return withCode(exitErr, err)
	}
	l, err := listenAPI(api)
	if err != nil {
		return err
	}
	fmt.Fprintf(io.err, "chaos: proxy %q: %s -> %s (%s); control API on http://%s/proxies/%s\n", cfg.Name, p.Addr(), cfg.Upstream, cfg.Protocol, l.Addr(), cfg.Name)
	return serveAPI(ctx, io, l, proxy.NewAPI(reg, opts))
}

func runToxiproxy(ctx context.Context, io *stdio, api string, opts proxy.APIOptions, config string) error {
	tp := proxy.NewToxiproxy(toolVersion())
	defer tp.Close()
	if config != "" {
		f, err := os.Open(config)
		if err != nil {
			return withCode(exitUsage, fmt.Errorf("--config: %w", err))
		}
		proxies, err := tp.Populate(ctx, f)
		f.Close()
		if err != nil {
			return withCode(exitErr, fmt.Errorf("--config %s: %w", config, err))
		}
		for _, p := range proxies {
			state := ""
			if p.Enabled != nil && !*p.Enabled {
				state = ", disabled"
			}
			fmt.Fprintf(io.err, "chaos: proxy %q: %s -> %s (%s%s, %d toxics)\n", p.Name, p.Listen, p.Upstream, p.Protocol, state, len(p.Toxics))
		}
	}
	l, err := listenAPI(api)
	if err != nil {
		return err
	}
	fmt.Fprintf(io.err, "chaos: Toxiproxy API on http://%s\n", l.Addr())
	return serveAPI(ctx, io, l, proxy.NewToxiproxyAPI(tp, opts))
}

// serveAPI serves h on l until a signal or ctx ends it.
func serveAPI(ctx context.Context, io *stdio, l net.Listener, h http.Handler) error {
	srv := proxy.NewAPIServer(h)
	go srv.Serve(l)
	defer srv.Close()
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
