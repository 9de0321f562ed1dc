# Packages for C and Rust users.
#
# libipcarc: the C layer as a static and a shared library, with ipcarc.h (the
# public part of cshm.h) and ipcarc.pc for pkg-config.
#
#   make lib                                  build/lib/libipcarc.{a,so}
#   make install PREFIX=/usr/local            (DESTDIR, LIBDIR, INCLUDEDIR, PKGCONFIGDIR too)
#   make uninstall PREFIX=/usr/local
#   make lib-check                            exports == documented API; cpeer via pkg-config
#
# The Rust crate (rust/ipcarc, no registry dependencies):
#
#   make rust-test                            cargo test + cargo doc, offline; skipped without cargo
#
# Everything is built under build/ (git-ignored); LIB_BUILD and CARGO_TARGET
# move it elsewhere (the Go tests build into a temporary directory).

LIB_BUILD    ?= build/lib
PREFIX       ?= /usr/local
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DESTDIR      ?=
PKG_CONFIG   ?= pkg-config
AR           ?= ar
OBJCOPY      ?= objcopy
NM           ?= nm
LIB_CFLAGS   ?= -O2 -g

# The soname carries the layout's major version: a segment made by one major
# cannot be opened by another, so the two are one ABI.
LIB_MAJOR   := $(shell awk '$$2 == "IPCARC_LAYOUT_VERSION" { print $$3 + 0; exit }' ipcarc.h)
LIB_VERSION := $(LIB_MAJOR).0.0
LIB_SONAME  := libipcarc.so.$(LIB_MAJOR)
LIB_REAL    := libipcarc.so.$(LIB_VERSION)
LIB_MAP     := mk/ipcarc.map
LIB_OBJS    := $(patsubst %.c,$(LIB_BUILD)/obj/%.o,$(CSRC))
# Hidden by default: only what ipcarc.h marks IPCARC_API leaves the library.
LIB_FLAGS   := -std=c11 -Wall -Wextra -fPIC -fvisibility=hidden
LIB_LIBS    := -Wl,--as-needed -lpthread -lrt

.PHONY: check-prefix lib install uninstall lib-check lib-clean rust-test

lib: $(LIB_BUILD)/libipcarc.a $(LIB_BUILD)/libipcarc.so

$(LIB_BUILD)/obj/%.o: %.c $(CHDR)
	@mkdir -p $(@D)
	$(CC) $(LIB_FLAGS) $(LIB_CFLAGS) -c $< -o $@

# One relocatable object whose hidden symbols are made local: a static link
# sees the API and nothing else, as the shared library's users do.
$(LIB_BUILD)/libipcarc.a: $(LIB_OBJS)
	$(CC) -r -nostdlib -o $(LIB_BUILD)/ipcarc.o $(LIB_OBJS)
	$(OBJCOPY) --localize-hidden $(LIB_BUILD)/ipcarc.o
	rm -f $@
	$(AR) rcs $@ $(LIB_BUILD)/ipcarc.o

$(LIB_BUILD)/$(LIB_REAL): $(LIB_OBJS) $(LIB_MAP)
	$(CC) -shared -Wl,-soname,$(LIB_SONAME) -Wl,--version-script=$(LIB_MAP) -Wl,--no-undefined \
		-o $@ $(LIB_OBJS) $(LIB_LIBS)

$(LIB_BUILD)/libipcarc.so: $(LIB_BUILD)/$(LIB_REAL)
	ln -sf $(LIB_REAL) $(LIB_BUILD)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $@

# Paths with white space would be split by make and the shell (and written
# unescaped into ipcarc.pc): refuse them rather than install or remove
# somewhere else.
check-prefix:
	@case "$(DESTDIR)$(PREFIX)$(LIBDIR)$(INCLUDEDIR)$(PKGCONFIGDIR)" in \
	*[[:space:]\|\&]*) echo "make: PREFIX, DESTDIR and the install dirs must not contain white space, | or &"; exit 1;; esac

install: check-prefix lib
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 0644 $(LIB_BUILD)/libipcarc.a $(DESTDIR)$(LIBDIR)/libipcarc.a
	install -m 0755 $(LIB_BUILD)/$(LIB_REAL) $(DESTDIR)$(LIBDIR)/$(LIB_REAL)
	ln -sf $(LIB_REAL) $(DESTDIR)$(LIBDIR)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $(DESTDIR)$(LIBDIR)/libipcarc.so
	install -m 0644 ipcarc.h $(DESTDIR)$(INCLUDEDIR)/ipcarc.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
		-e 's|@VERSION@|$(LIB_VERSION)|g' mk/ipcarc.pc.in > $(LIB_BUILD)/ipcarc.pc
	install -m 0644 $(LIB_BUILD)/ipcarc.pc $(DESTDIR)$(PKGCONFIGDIR)/ipcarc.pc

uninstall: check-prefix
	rm -f $(DESTDIR)$(LIBDIR)/libipcarc.a $(DESTDIR)$(LIBDIR)/$(LIB_REAL) \
		$(DESTDIR)$(LIBDIR)/$(LIB_SONAME) $(DESTDIR)$(LIBDIR)/libipcarc.so \
		$(DESTDIR)$(INCLUDEDIR)/ipcarc.h $(DESTDIR)$(PKGCONFIGDIR)/ipcarc.pc

# The exported symbol set equals the documented API (ipcarc.h's IPCARC_API
# declarations) and the export list, in both libraries; ipcarc.h stands alone
# (C99, C++); a C program builds from an installed copy through pkg-config,
# linked shared and static, and runs.
LIB_CHECK_PREFIX := $(abspath $(LIB_BUILD))/check-prefix
lib-check: lib
	NM=$(NM) sh mk/check-exports.sh ipcarc.h $(LIB_MAP) $(LIB_BUILD)/$(LIB_REAL) $(LIB_BUILD)/libipcarc.a
	rm -rf $(LIB_CHECK_PREFIX)
	$(MAKE) --no-print-directory -s install PREFIX=$(LIB_CHECK_PREFIX) LIB_BUILD=$(LIB_BUILD)
	PKG_CONFIG=$(PKG_CONFIG) CC=$(CC) sh mk/check-installed.sh $(LIB_CHECK_PREFIX) $(LIB_BUILD)/check

lib-clean:
	rm -rf $(LIB_BUILD)

TEST_EXTRA += lib-check

# ---- the Rust crate -----------------------------------------------------------

CARGO        ?= cargo
CARGO_TARGET ?= $(CURDIR)/build/cargo

# Offline and --locked: no registry, and cargo never rewrites a Cargo.lock in
# the source tree. The documentation must build without a warning.
rust-test:
	@if ! command -v $(CARGO) >/dev/null; then \
		echo "skip: rust-test: $(CARGO) is not on PATH, so the Rust crate (rust/ipcarc) is neither built nor tested (https://rustup.rs)"; \
	else \
		set -e; \
		echo "CARGO_TARGET_DIR=$(CARGO_TARGET) $(CARGO) test --offline --locked --manifest-path rust/Cargo.toml"; \
		CARGO_TARGET_DIR=$(CARGO_TARGET) $(CARGO) test --offline --locked --quiet --manifest-path rust/Cargo.toml; \
		echo "CARGO_TARGET_DIR=$(CARGO_TARGET) RUSTDOCFLAGS='-D warnings' $(CARGO) doc --offline --locked --no-deps --manifest-path rust/Cargo.toml"; \
		CARGO_TARGET_DIR=$(CARGO_TARGET) RUSTDOCFLAGS='-D warnings' $(CARGO) doc --offline --locked --no-deps --quiet --manifest-path rust/Cargo.toml; \
	fi

TEST_EXTRA += rust-test
