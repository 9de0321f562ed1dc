# ipcarc: `make demo` shows the library at work; `make test` is what CI runs.
GO      ?= go
SHELL   := /bin/bash
PKGS    := ./...

# The default goal, before the fragments so none of their targets takes it.
all: test

# Fragments by concept (peers, bench, fuzz, cli) add their own targets and
# append to TEST_EXTRA the checks that belong in `make test`.
TEST_EXTRA :=
# The C layer, split by protocol (see cshm_internal.h); every C build links all of it.
CSRC    := validate.c cshm.c admin.c slice.c table.c liveness.c valuelock.c
CHDR    := ipcarc.h cshm.h cshm_internal.h
-include mk/*.mk

.PHONY: all test shm-before check-tools fmt-check vet gotest gotest-cgocheck2 demo bench clean

# The tools the tests need. Go and gcc come with the machine; say clearly
# what is missing instead of failing later in a confusing way.
check-tools:
	@command -v $(GO) >/dev/null || { echo "make: go is required (https://go.dev/dl)"; exit 1; }
	@command -v gcc >/dev/null || command -v cc >/dev/null || { echo "make: a C compiler (gcc) is required for cgo"; exit 1; }

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

# The !cgo build must keep the same API (its constructors return
# ErrUnsupported): vet it and build the commands against it.
vet:
	$(GO) vet $(PKGS)
	CGO_ENABLED=0 $(GO) vet $(PKGS)
	CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/...
	GOOS=darwin CGO_ENABLED=0 $(GO) build -o /dev/null .

# cgocheck=1 is Go's default; named so that a GODEBUG in the environment
# cannot turn the pointer checks off for this pass.
gotest:
	GODEBUG=cgocheck=1 $(GO) test -race -count=1 $(PKGS)
	CGO_ENABLED=0 $(GO) test -count=1 -run TestUnsupportedBuild .

# cgocheck2 checks every pointer store against cgo's rules; a toolchain that
# does not know the experiment says so and the pass is skipped with that reason.
# -short: every test still runs, the long ones in slices (the stack-depth
# sweeps of the cgo boundary included, 600 depths); the -race pass above runs
# them whole.
gotest-cgocheck2:
	@if GOEXPERIMENT=cgocheck2 $(GO) version >/dev/null 2>&1; then \
		echo "GOEXPERIMENT=cgocheck2 $(GO) test -short -count=1 $(PKGS)"; \
		GOEXPERIMENT=cgocheck2 $(GO) test -short -count=1 $(PKGS); \
	else echo "skip: this Go toolchain does not accept GOEXPERIMENT=cgocheck2"; fi

# What this run leaves in /dev/shm fails it; what was there before is not ours.
shm-before:
	@mkdir -p build && ls /dev/shm | grep -E '^ipcarc-(test|demo)' > build/shm.before || true

test: shm-before check-tools fmt-check vet gotest gotest-cgocheck2 $(TEST_EXTRA)
	@left=$$(ls /dev/shm | grep -E '^ipcarc-(test|demo)' | grep -vxF -f build/shm.before || true); \
	if [ -n "$$left" ]; then echo "make test: left in /dev/shm: $$left"; exit 1; fi

# The main job: the crash demo, then the segment table, which must show
# nothing left behind.
demo: check-tools
	$(GO) run ./cmd/ipcarc-demo
	@echo '$$ ipcarc ls'; out=$$($(GO) run ./cmd/ipcarc ls) || exit 1; \
	if [ -n "$$out" ]; then echo "$$out"; else echo "(no ipcarc segments in /dev/shm: nothing left behind)"; fi

clean:
	$(GO) clean -testcache
