# chive — see README.md. Every target works on a fresh Debian/Ubuntu machine.
GO       ?= go
BIN      := bin/chive
PKGS     := ./...
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run build check test soak deps lint bench fuzz demo clean

## run: install what is missing, build, and open chive
run: deps build
	./$(BIN)

build:
	$(GO) build -o $(BIN) ./cmd/chive

## deps: make sure tor (and tmux, jq and python3, for the demo, e2e tests and examples) is installed
deps:
	@./scripts/ensure-deps.sh

## check: the fast edit-test loop, no Tor needed: lint, then every test
## that runs without Tor (-short). Well under a minute; see CONTRIBUTING.md.
check: lint
	$(GO) test -short $(PKGS)
	@echo "make check: all passed"

## test: every test, including real-Tor integration tests and cross-builds
test: deps lint
	$(GO) test -race -timeout 45m $(PKGS)
	GOOS=darwin  GOARCH=amd64 $(GO) build -o /dev/null ./cmd/chive
	GOOS=windows GOARCH=amd64 $(GO) build -o /dev/null ./cmd/chive
	GOOS=linux   GOARCH=arm64 $(GO) build -o /dev/null ./cmd/chive
	@echo "make test: all passed"

## soak: the slow fault and load tests of the real binary (minutes each):
## daemon memory under 1,000 socket connections, start-up with 500 offline
## contacts, a frozen and a restarted private network; a 1 GiB file between
## two daemons (peak memory above idle), 100 MiB against a bare onion stream,
## the time to resume. They log their figures; CHIVE_SOAK_BIN=path measures
## another build (e.g. main's) the same way.
soak: deps
	CHIVE_SOAK=1 $(GO) test -count=1 -timeout 2h -run 'Soak' -v ./cmd/chive ./node
	$(GO) test -run '^$$' -bench 'TorFile' -benchtime 3x -timeout 2h ./node

## lint: gofmt, go vet and staticcheck (pinned in go.mod's tool directive:
## honnef.co/go/tools v0.8.2, run with "go tool staticcheck")
lint:
	@out=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)

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
