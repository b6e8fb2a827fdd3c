# `make demo` and `make test` work on a fresh clone: they create .venv, install, then run.
# A second run reuses the venv (the stamp file is newer than pyproject.toml) and is quick.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.mlcraft-installed
TORCH  := torch==2.13.0

.PHONY: setup browser demo lint test test-fast bench bench-explore bench-nn bench-nn-quality bench-compare bench-inference bench-serve bench-cluster bench-anomaly bench-semisup bench-scale-unsupervised bench-forecast-nn bench-forecast bench-forecast-scale bench-stream postgres clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[nn,dev,serve,postgres,forecast]'
	touch $(STAMP)

setup: $(STAMP) browser

# Headless Chromium for the reports' browser check (tests/test_reports_e2e.py). Quick when already
# there; without root or apt-get it says so and the check is skipped with that reason.
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
	  echo "note: chromium is not installed and cannot be (needs root and apt-get): the report's browser check will be skipped"; \
	else \
	  echo "installing chromium (Debian package) for the report's browser check..."; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  { apt-get -o DPkg::Lock::Timeout=300 -qq update && \
	    apt-get -o DPkg::Lock::Timeout=300 -y -qq install --no-install-recommends chromium; } >/dev/null 2>&1 || \
	  echo "note: apt-get could not install chromium: the report's browser check will be skipped"; \
	fi

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

# ruff (lint and format check) over the code and its tests; mypy over the package (pyproject.toml)
lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

test: setup postgres
	$(PY) -m pytest -q

# the suite without the tests marked `slow` (end-to-end runs, the heaviest unit cases); aim: under 3 min on 2 cores
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

bench: setup
	$(PY) benchmarks/bench_housing.py

bench-explore: setup
	flock /tmp/mlcraft-bench.lock $(PY) benchmarks/bench_explore.py

# the neural-network benchmark's own environment: skorch and Keras 3 (PyTorch backend) beside torch
NN_VENV  := bench-out/nn-venv
NN_STAMP := $(NN_VENV)/.installed

$(NN_STAMP):
	test -x $(NN_VENV)/bin/python || $(PYTHON) -m venv $(NN_VENV)
	$(NN_VENV)/bin/python -m pip install -q $(TORCH)
	$(NN_VENV)/bin/python -m pip install -q skorch keras numpy
	touch $@

bench-nn: setup $(NN_STAMP)
	flock /tmp/mlcraft-bench.lock $(PY) benchmarks/bench_nn.py

bench-nn-quality: setup
	flock /tmp/mlcraft-bench.lock $(PY) benchmarks/bench_nn_quality.py

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
	flock /tmp/mlcraft-bench.lock $(PY) benchmarks/bench_inference.py

bench-cluster: setup
	flock /tmp/mlcraft-bench.lock $(PY) benchmarks/bench_cluster.py

bench-anomaly: setup
	flock /tmp/mlcraft-bench.lock $(PY) benchmarks/bench_anomaly.py

bench-semisup: setup
	flock /tmp/mlcraft-bench.lock $(PY) benchmarks/bench_semisup.py

bench-scale-unsupervised: setup
	flock /tmp/mlcraft-bench.lock $(PY) benchmarks/bench_scale_unsupervised.py

# 10,000 series x 200 months trained and forecast by the CLI within 120 s (issue 16's speed target).
bench-forecast-scale: setup
	flock /tmp/mlcraft-heavy.lock $(PY) benchmarks/bench_forecast_scale.py

# The neural forecasters beside a hand-written PyTorch loop doing the same work (issue 16's 0.9x).
bench-forecast-nn: setup
	flock /tmp/mlcraft-heavy.lock $(PY) benchmarks/bench_forecast_nn.py

# mlcraft's CLI against seasonal naive, StatsForecast's AutoETS/AutoARIMA/AutoTheta and AutoGluon-
# TimeSeries on the statsmodels series, 60 s per panel; about 8 min on 2 cores. AutoGluon-TimeSeries
# has its own environment: in .bench-venv its lightning would break `import flaml` (torchmetrics
# loads fastai's torchvision, whose ops do not load beside the CPU torch). Where it cannot be
# installed the column says "not run". JSON: bench-out/forecast.json.
FC_VENV  := bench-out/forecast-venv
FC_STAMP := $(FC_VENV)/.installed

$(FC_STAMP):
	test -x $(FC_VENV)/bin/python || $(PYTHON) -m venv $(FC_VENV)
	$(FC_VENV)/bin/python -m pip install -q --upgrade pip
	$(FC_VENV)/bin/python -m pip install -q $(TORCH)
	$(FC_VENV)/bin/python -m pip install -q autogluon.timeseries==1.6.3
	touch $@

bench-forecast: setup
	@$(MAKE) --no-print-directory $(FC_STAMP) || echo "note: $(FC_VENV) could not be made: AutoGluon-TimeSeries will not run"
	flock /tmp/mlcraft-heavy.lock $(PY) benchmarks/bench_forecast.py

# a generated Parquet file of about 4.3 GB under /tmp (deleted at the end), streamed by `train`
bench-stream: setup
	flock /tmp/mlcraft-heavy.lock $(PY) benchmarks/bench_stream.py

bench-serve: setup
	flock /tmp/mlcraft-bench.lock $(PY) benchmarks/bench_serve.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
