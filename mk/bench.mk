# Benchmarks: `make bench` prints one Markdown table setting each ipcarc path
# beside its physical floor (bench/cbase.c, the empty cgo call) and beside what
# a Go program would use instead. There are two C floors: the same loop through
# cshm.c (ipcarc_lock/unlock), and the bare floor (a robust pthread mutex in a
# MAP_SHARED memfd mapping, no ipcarc code), both timed in C by bench/cbase
# from inside the go test run (BenchmarkCLockUnlockInC, BenchmarkCBareInC).
# `make bench-smoke` (part of `make test`) runs every benchmark once so none of
# them rots. The holder-table benchmarks
# (Open+Close beside 0-4,095 other holders, Stats, Inspect, Reap of a full
# 4,096-slot table) start one helper process holding the other attachments;
# their setup takes well under a second, so bench-smoke stays quick.
#
#   make bench                       5 repetitions of 200ms each: under 2 minutes on 2 cores
#   make bench BENCHTIME=50ms BENCHCOUNT=3     quicker, noisier
#   make bench BENCHOUT=bench/RESULTS.md       also write the table there


BENCHTIME  ?= 200ms
BENCHCOUNT ?= 5
BENCHOUT   ?=
CBASE      := bench/cbase
# The report tool is a module of its own (tools/benchreport), so that
# `go install ./...` of the library installs only the ipcarc commands.
BENCHREPORT := build/benchreport

.PHONY: $(BENCHREPORT)
$(BENCHREPORT):
	@mkdir -p build
	cd tools/benchreport && $(GO) build -o $(abspath $(BENCHREPORT)) .

.PHONY: bench bench-smoke

# The C baselines link the same cshm.c the library uses.
$(CBASE): bench/cbase.c bench/cbase_2proc.c bench/cbase.h $(CSRC) $(CHDR)
	cd bench && $(CC) -O2 -Wall -I.. -o cbase cbase.c cbase_2proc.c $(addprefix ../,$(CSRC)) -lpthread

bench: check-tools $(CBASE) $(BENCHREPORT)
	./$(BENCHREPORT) -go $(GO) -cbase $(CBASE) -count $(BENCHCOUNT) -benchtime $(BENCHTIME) $(if $(BENCHOUT),-o $(BENCHOUT))

# One iteration of every Go benchmark and ~1 ms of every C measurement: checks
# they still build and run, not how fast.
bench-smoke: check-tools $(CBASE)
	IPCARC_CBASE=$(abspath $(CBASE)) $(GO) test -count=1 -run '^$$' -bench . -benchtime 1x .
	./$(CBASE) all 1 >/dev/null
	cd tools/benchreport && $(GO) vet ./...

TEST_EXTRA += bench-smoke
