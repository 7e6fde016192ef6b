# ifacetrace — `make help` lists the targets.
GO ?= go
BIN ?= bin/ifacetrace
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
PROTOC_GEN_GO := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: help build test unit lint proto proto-check bench fuzz clean

help: ## list the targets
	@awk -F':.*## ' '/^[a-z-]+:.*## /{printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build bin/ifacetrace
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/ifacetrace

test: lint proto-check ## lint, verify generated code, run every test (root: builds namespaces)
	$(GO) test -count=1 -timeout 15m ./...

unit: ## run the tests that need no privilege
	$(GO) test -count=1 ./pcap/... ./plugins/... ./tracer/afpacket/ ./tracer/ ./tracer/decode/ ./tracer/correlate/ ./tracer/flow/

lint: ## gofmt, go vet, staticcheck
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt: run gofmt -w ."; exit 1; }
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

proto: ## regenerate plugins/proto/pluginv1 from plugin.proto
	cd plugins/proto && PATH="$$($(GO) env GOPATH)/bin:$$PATH" sh -c '$(GO) install $(PROTOC_GEN_GO) && $(GO) install $(PROTOC_GEN_GO_GRPC) && $(GO) generate ./...'

proto-check: proto ## fail if the checked-in generated code is not what plugin.proto generates
	@git diff --exit-code -- plugins/proto || { echo "generated code is stale: run make proto and commit"; exit 1; }

bench: ## micro-benchmarks with allocations, then ifacetrace vs tcpdump side by side in a lab (root; docs/benchmarks.md)
	$(GO) test -run '^$$' -bench . -benchmem $$($(GO) list ./... | grep -v /cmd/ifacetrace)
	$(GO) test -run '^$$' -bench VersusTcpdump -benchtime 1x -timeout 30m ./cmd/ifacetrace/
	$(GO) test -run '^$$' -bench Offline -benchtime 1x -timeout 30m ./cmd/ifacetrace/

fuzz: ## fuzz each decoder for 20s
	$(GO) test -run '^$$' -fuzz FuzzWalkBlock -fuzztime 20s ./tracer/afpacket/
	$(GO) test -run '^$$' -fuzz '^FuzzReader$$' -fuzztime 20s ./pcap/record/
	$(GO) test -run '^$$' -fuzz FuzzTraceReader -fuzztime 20s ./pcap/record/
	$(GO) test -run '^$$' -fuzz FuzzOpen -fuzztime 20s ./pcap/
	$(GO) test -run '^$$' -fuzz FuzzWritePacket -fuzztime 20s ./pcap/
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime 20s ./tracer/decode/
	$(GO) test -run '^$$' -fuzz FuzzAppendString -fuzztime 20s ./tracer/decode/
	$(GO) test -run '^$$' -fuzz FuzzCorrelator -fuzztime 20s ./tracer/correlate/
	$(GO) test -run '^$$' -fuzz FuzzSegments -fuzztime 20s ./tracer/correlate/
	$(GO) test -run '^$$' -fuzz FuzzReceiver -fuzztime 20s ./plugins/proto/codec/
	$(GO) test -run '^$$' -fuzz FuzzAppendTraceLine -fuzztime 20s ./plugins/json/
	$(GO) test -run '^$$' -fuzz FuzzLookup -fuzztime 20s ./tracer/fib/

clean: ## remove build output
	rm -rf bin
