# Peers: the C and Rust programs in examples/ that share a segment with Go.
# examples/cpeer is a user of the installed libipcarc (pkg-config), and
# examples/rustpeer a user of the ipcarc crate (rust/ipcarc). The Go tests
# (peers_test.go, crosslang_test.go) build both themselves, under build/, so
# nothing is added to TEST_EXTRA: `make test` already runs them through
# `go test`. These targets build them for a person:
#
#   make cpeer       build/cpeer, against libipcarc installed in build/prefix
#   make rustpeer    build/cargo/release/rustpeer
#
# Both are git-ignored; nothing is built in the source tree.

PEER_CC     ?= cc
CARGO       ?= cargo
CARGO_TARGET ?= $(CURDIR)/build/cargo
PEER_PREFIX := $(CURDIR)/build/prefix
CPEER       := build/cpeer
RUSTPEER    := $(CARGO_TARGET)/release/rustpeer

.PHONY: peers cpeer rustpeer peers-check peers-clean

peers: cpeer rustpeer

# Exactly the documented commands (examples/cpeer/cpeer.c): install, then
# compile with pkg-config's flags; the rpath finds the library in its prefix.
cpeer: $(CPEER)
$(CPEER): examples/cpeer/cpeer.c $(CSRC) $(CHDR) mk/lib.mk mk/ipcarc.map mk/ipcarc.pc.in
	@command -v $(PEER_CC) >/dev/null || { echo "make: $(PEER_CC) is required to build the C peer (set PEER_CC to another C compiler)"; exit 1; }
	@command -v $(PKG_CONFIG) >/dev/null || { echo "make: $(PKG_CONFIG) is required to build the C peer against the installed libipcarc"; exit 1; }
	$(MAKE) --no-print-directory install PREFIX=$(PEER_PREFIX)
	PKG_CONFIG_PATH=$(PEER_PREFIX)/lib/pkgconfig; export PKG_CONFIG_PATH; \
	$(PEER_CC) -O2 -Wall examples/cpeer/cpeer.c $$($(PKG_CONFIG) --cflags --libs ipcarc) \
		-Wl,-rpath,$$($(PKG_CONFIG) --variable=libdir ipcarc) -o $@

# cargo decides what is stale; CARGO_TARGET_DIR is pinned so the binary is
# where the tests look even if the environment sets another.
rustpeer:
	@command -v $(CARGO) >/dev/null || { echo "make: cargo is required to build the Rust peer (https://rustup.rs)"; exit 1; }
	CARGO_TARGET_DIR=$(CARGO_TARGET) $(CARGO) build --release --offline --locked --manifest-path examples/rustpeer/Cargo.toml
	@echo "built $(RUSTPEER)"

peers-check:
	@ok=1; \
	if command -v $(PEER_CC) >/dev/null; then echo "peers: C compiler: $$(command -v $(PEER_CC))"; \
	else echo "peers: MISSING $(PEER_CC): the C peer cannot be built and its Go tests skip"; ok=0; fi; \
	if command -v $(PKG_CONFIG) >/dev/null; then echo "peers: pkg-config: $$(command -v $(PKG_CONFIG))"; \
	else echo "peers: MISSING $(PKG_CONFIG): the C peer cannot use the installed library and its Go tests skip"; ok=0; fi; \
	if command -v $(CARGO) >/dev/null; then echo "peers: cargo: $$(command -v $(CARGO)) ($$($(CARGO) --version))"; \
	else echo "peers: MISSING $(CARGO): the Rust peer cannot be built and the peer tests skip"; ok=0; fi; \
	[ $$ok = 1 ]

peers-clean:
	rm -rf $(CPEER) $(PEER_PREFIX) build/peers
	CARGO_TARGET_DIR=$(CARGO_TARGET) $(CARGO) clean --offline --release --manifest-path examples/rustpeer/Cargo.toml 2>/dev/null || true
