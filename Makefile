# The two commands a newcomer needs: `make run` and `make test`. Both set up
# what a fresh Debian machine with only Go and gcc lacks.
GO       ?= go
BIN      := bin/licledger
DATA     ?= ./data
ADDR     ?= 127.0.0.1:8080
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
export CGO_ENABLED := 1

.PHONY: setup build run test bench lint fuzz clean

# setup installs what a fresh Debian machine lacks: libudev-dev (go-hid's
# hidraw backend links against it) and chromium (the console's browser
# tests drive it headless), then downloads the pinned Go modules.
setup:
	@pkgs=""; \
	[ -f /usr/include/libudev.h ] || pkgs="$$pkgs libudev-dev"; \
	command -v chromium >/dev/null 2>&1 || pkgs="$$pkgs chromium"; \
	if [ -n "$$pkgs" ]; then \
		echo "setup: installing$$pkgs"; \
		SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO=sudo; \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$pkgs; \
	fi
	@$(GO) mod download

build: setup
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/licledger

# run starts the ledger in the foreground: embedded JetStream and SQLite
# under $(DATA), HTTP on $(ADDR). First, once, `demo init` creates under
# $(DEMO) a demo vendor key pair, the trusted keys serve verifies license
# files with, and a signed sample bundle for the demo platform, and prints
# where they are (README.md, "Demo walkthrough").
DEMO     ?= $(DATA)/demo
run: build
	./$(BIN) demo init --dir $(DEMO) --platform demo --http $(ADDR)
	./$(BIN) serve --data $(DATA) --http $(ADDR) --trusted-keys $(DEMO)/trusted-keys

test: setup
	$(GO) test -race -count=1 -timeout 20m ./...

# bench runs every benchmark once, long enough to be stable; the event store
# and projection benchmarks print their ratio against raw JetStream.
bench: setup
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...

# fuzz runs each fuzz target for FUZZTIME (default 1m).
FUZZTIME ?= 1m
fuzz: setup
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin
