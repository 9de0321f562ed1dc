# Reliability: fault points, fuzzing, sanitizers, soak.

FUZZTIME ?= 60s
SOAK     ?= 60s

.PHONY: test-faults fuzz soak

# Fault points exist only in a build with -tags ipcarc_faults.
test-faults:
	$(GO) test -tags ipcarc_faults -race -count=1 -run 'TestFault|TestAdvStale' .

# The seed corpus (testdata/fuzz/FuzzOpen) runs in every `go test`; this
# explores beyond it for FUZZTIME.
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzOpen -fuzztime $(FUZZTIME) .

# 8 processes, random operations, random SIGKILLs, for SOAK (make test runs a
# 10 s slice through TestSoak's default).
soak:
	set -o pipefail; IPCARC_SOAK=$(SOAK) $(GO) test -count=1 -run 'TestSoak' -v -timeout 30m . | grep -E 'soak:|^(ok|FAIL|---)'

TEST_EXTRA += test-faults
