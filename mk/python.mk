# The Python package (python/: ipcarc over libipcarc, ctypes, standard library only).
#
#   make python-test      stage the package (its .py files and a freshly built
#                         _libipcarc.so) in build/python/site and run its unittest
#                         suite; part of `make test`, skipped (saying how to get
#                         it) without python3
#   make bench-python     Python lock+unlock and load beside multiprocessing's
#                         Lock and a shared_memory copy, atomic_add beside a
#                         Value, Slice get/set/load beside an Array (not in `make test`)
#
# The Go tests in python_test.go (Python peers against Go, C and Rust; the
# install into a fresh venv) stage their own copy the same way.

PYTHON    ?= python3
PY_SITE   ?= $(CURDIR)/build/python/site
PY_ENV    := PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=$(PY_SITE)

.PHONY: python-stage python-test bench-python

python-stage:
	@$(PYTHON) python/_backend/ipcarc_build.py stage $(PY_SITE) >/dev/null

python-test:
	@if ! command -v $(PYTHON) >/dev/null; then \
		echo "skip: python-test: $(PYTHON) is not on PATH, so the Python package (python/) is neither built nor tested (apt-get install python3)"; \
	else \
		set -e; \
		$(MAKE) --no-print-directory python-stage; \
		echo "$(PY_ENV) $(PYTHON) -m unittest discover -s python/tests"; \
		cd build && $(PY_ENV) $(PYTHON) -m unittest discover -s $(CURDIR)/python/tests; \
	fi

bench-python: python-stage
	cd build && $(PY_ENV) $(PYTHON) $(CURDIR)/python/tests/bench.py

TEST_EXTRA += python-test
