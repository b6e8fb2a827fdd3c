# `make demo` and `make test` work on a fresh clone: they create .venv, install, then run.
# A second run reuses the venv (the stamp file is newer than pyproject.toml) and is quick.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.mlcraft-installed
TORCH  := torch==2.13.0

.PHONY: setup demo test bench bench-serve postgres clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[nn,dev,serve,postgres]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(VENV)/bin/mlcraft demo

# PostgreSQL for the registry tests (Debian's package; the tests start a throw-away cluster of their own).
# Quick when installed; where it cannot be installed (not root, no apt) those tests are skipped with the reason.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
	      || echo "note: could not install PostgreSQL; its tests will be skipped"; \
	  else echo "note: PostgreSQL is not installed and this is not root; its tests will be skipped"; fi; }

test: setup postgres
	$(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/bench_housing.py

bench-serve: setup
	flock /tmp/mlcraft-bench.lock $(PY) benchmarks/bench_serve.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
