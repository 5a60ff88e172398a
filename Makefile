# Common tasks. The README's commands (scripts/demo.sh, scripts/test.sh) need
# nothing but Go; this file is a shorthand for working on chaos.
.PHONY: build test lint bench fuzz update-golden demo docker proxy-image

build:
	CGO_ENABLED=0 go build -o bin/ ./cmd/chaos ./examples/targets/...

test:
	./scripts/test.sh

lint:
	gofmt -l $$(git ls-files '*.go') | (! grep .)
	go vet ./...
	staticcheck ./...

bench:
	go test -run '^$$' -bench . -benchmem ./internal/experiment
	./bench/validate.sh

fuzz:
	go test ./internal/experiment -run '^$$' -fuzz FuzzParse -fuzztime 60s

update-golden:
	go test ./cmd/chaos -run 'TestValidateGolden|TestSchemaUpToDate' -update

demo:
	./scripts/demo.sh

docker:
	./scripts/docker-up.sh

# chaos-proxy:latest, FROM scratch: chaos proxy serving Toxiproxy's API on 8474.
proxy-image:
	./scripts/proxy-image.sh
