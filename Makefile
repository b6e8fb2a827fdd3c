# `make demo` and `make test` work on a fresh clone: they create .venv, install, then run.
# A second run reuses the venv (the stamp file is newer than pyproject.toml) and is quick.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.mlcraft-installed
TORCH  := torch==2.13.0

.PHONY: setup demo test bench bench-nn bench-nn-quality clean

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

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
