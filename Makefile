# chive — see README.md. Every target works on a fresh Debian/Ubuntu machine.
GO       ?= go
BIN      := bin/chive
PKGS     := ./...
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run build test deps lint bench fuzz demo clean

## run: install what is missing, build, and open chive
run: deps build
	./$(BIN)

build:
	$(GO) build -o $(BIN) ./cmd/chive

## deps: make sure tor (and tmux, for the demo and e2e tests) is installed
deps:
	@./scripts/ensure-deps.sh

## test: every test, including real-Tor integration tests and cross-builds
test: deps lint
	$(GO) test -race -timeout 45m $(PKGS)
	GOOS=darwin  GOARCH=amd64 $(GO) build -o /dev/null ./cmd/chive
	GOOS=windows GOARCH=amd64 $(GO) build -o /dev/null ./cmd/chive
	GOOS=linux   GOARCH=arm64 $(GO) build -o /dev/null ./cmd/chive
	@echo "make test: all passed"

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

bench: deps
	$(GO) test -run '^$$' -bench . -benchtime 3x $(PKGS)

FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

## demo: Alice and Bob chatting over a private Tor network, side by side in tmux
demo: deps build
	./$(BIN) demo

clean:
	rm -rf bin
