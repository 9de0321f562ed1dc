# Peers: the C and Rust programs in examples/ that share a segment with Go
# through cshm.c (see LAYOUT.md). The Go tests (peers_test.go) build and run
# both themselves, into the same places as these targets, so nothing is added
# to TEST_EXTRA: `make test` already exercises them through `go test`.

PEER_CC    ?= cc
CARGO      ?= cargo
CPEER      := examples/cpeer/cpeer
RUSTPEER   := examples/rustpeer/target/release/rustpeer

.PHONY: peers cpeer rustpeer peers-check peers-clean

peers: cpeer rustpeer

# Exactly the documented command, run from the peer's directory.
cpeer: $(CPEER)
$(CPEER): examples/cpeer/cpeer.c $(CSRC) $(CHDR)
	@command -v $(PEER_CC) >/dev/null || { echo "make: $(PEER_CC) is required to build the C peer (set PEER_CC to another C compiler)"; exit 1; }
	cd examples/cpeer && $(PEER_CC) -O2 -Wall -I../.. cpeer.c $(addprefix ../../,$(CSRC)) -lpthread -o cpeer

# cargo decides what is stale; CARGO_TARGET_DIR is pinned so the binary is
# where the tests look even if the environment sets another.
rustpeer:
	@command -v $(CARGO) >/dev/null || { echo "make: cargo is required to build the Rust peer (https://rustup.rs)"; exit 1; }
	CARGO_TARGET_DIR=$(CURDIR)/examples/rustpeer/target $(CARGO) build --release --offline --manifest-path examples/rustpeer/Cargo.toml
	@echo "built $(RUSTPEER)"

peers-check:
	@ok=1; \
	if command -v $(PEER_CC) >/dev/null; then echo "peers: C compiler: $$(command -v $(PEER_CC))"; \
	else echo "peers: MISSING $(PEER_CC): the C peer cannot be built and its Go tests skip"; ok=0; fi; \
	if command -v $(CARGO) >/dev/null; then echo "peers: cargo: $$(command -v $(CARGO)) ($$($(CARGO) --version))"; \
	else echo "peers: MISSING $(CARGO): the Rust peer cannot be built and the peer tests skip"; ok=0; fi; \
	[ $$ok = 1 ]

peers-clean:
	rm -f $(CPEER) $(CPEER).tmp-*
	rm -rf examples/rustpeer/target

