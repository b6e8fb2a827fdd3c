# `make demo` and `make test` work on a fresh clone: they create .venv, install, then run.
# A second run reuses the venv (the stamp file is newer than pyproject.toml) and is quick.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.mlcraft-installed
TORCH  := torch==2.13.0

.PHONY: setup demo test bench bench-compare bench-inference clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[nn,dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(VENV)/bin/mlcraft demo

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/bench_housing.py

# The anchors (FLAML, AutoGluon-Tabular) live in their own environment; torch==2.13.0 goes in first.
BENCH_VENV  := .bench-venv
BENCH_STAMP := $(BENCH_VENV)/.installed

$(BENCH_STAMP): benchmarks/compare-requirements.txt
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install -q $(TORCH)
	$(BENCH_VENV)/bin/python -m pip install -q -r benchmarks/compare-requirements.txt
	touch $(BENCH_STAMP)

# Long (hours): resumable; each cell takes /tmp/mlcraft-bench.lock itself. Run it unattended, e.g.
#   nohup make bench-compare > bench-out/compare.log 2>&1 &
bench-compare: setup $(BENCH_STAMP)
	$(PY) benchmarks/bench_compare.py $(COMPARE_ARGS)

bench-inference: setup
	$(PY) benchmarks/bench_inference.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
