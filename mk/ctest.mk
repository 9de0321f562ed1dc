# The C layer on its own, under AddressSanitizer and UndefinedBehaviorSanitizer.
CC       ?= cc
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1

.PHONY: ctest
ctest: build/cshm_test
	ASAN_OPTIONS=detect_leaks=1 ./build/cshm_test

build/cshm_test: ctest/cshm_test.c cshm.c cshm.h
	@mkdir -p build
	$(CC) -std=c11 -Wall -Wextra -Werror $(SANFLAGS) -o $@ ctest/cshm_test.c cshm.c -lpthread

TEST_EXTRA += ctest
