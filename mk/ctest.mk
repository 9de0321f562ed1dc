# The C layer on its own, under AddressSanitizer and UndefinedBehaviorSanitizer.
CC       ?= cc
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1

.PHONY: ctest
ctest: build/cshm_test
	ASAN_OPTIONS=detect_leaks=1 ./build/cshm_test

build/cshm_test: ctest/cshm_test.c $(CSRC) $(CHDR)
	@mkdir -p build
	$(CC) -std=c11 -Wall -Wextra -Werror $(SANFLAGS) -o $@ ctest/cshm_test.c $(CSRC) -lpthread

TEST_EXTRA += ctest

# The C peer, built with the same sanitizers, run once against a segment of
# its own (it creates it, counts, and its last close removes it).
.PHONY: cpeer-asan
cpeer-asan: build/cpeer-asan
	set -o pipefail; ASAN_OPTIONS=detect_leaks=1 ./build/cpeer-asan incr ipcarc-test-cpeer-asan-$$$$ 1000 | grep -qx done

build/cpeer-asan: examples/cpeer/cpeer.c $(CSRC) $(CHDR)
	@mkdir -p build
	$(CC) -std=c11 -Wall -Wextra $(SANFLAGS) -I. -o $@ examples/cpeer/cpeer.c $(CSRC) -lpthread

TEST_EXTRA += cpeer-asan
