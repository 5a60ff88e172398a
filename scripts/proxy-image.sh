#!/usr/bin/env bash
# Builds chaos-proxy:latest (or the image named by the first argument):
# FROM scratch, one static chaos binary running `chaos proxy`, which serves
# Toxiproxy's API on port 8474 to its network, where Toxiproxy's image did.
# Pass other flags after the image, e.g. --config /proxies.json, with
# `docker run chaos-proxy --api 0.0.0.0:8474 --trust-network --config ...`.
# Usage: scripts/proxy-image.sh [IMAGE]   (make proxy-image)
set -euo pipefail
cd "$(dirname "$0")/.."
image=${1:-chaos-proxy:latest}
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
CGO_ENABLED=0 go build -trimpath -o "$ctx/chaos" ./cmd/chaos
cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY chaos /chaos
USER 65534:65534
EXPOSE 8474
ENTRYPOINT ["/chaos", "proxy"]
CMD ["--api", "0.0.0.0:8474", "--trust-network"]
DOCKERFILE
# The classic builder needs nothing but the daemon; FROM scratch pulls nothing.
DOCKER_BUILDKIT=0 docker build --quiet --label chaos.image=proxy -t "$image" "$ctx" >/dev/null 2>"$ctx/build.log" || {
	cat "$ctx/build.log" >&2
	exit 1
}
echo "built $image"
