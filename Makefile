# The two commands a newcomer needs: `make demo` and `make test`.
# Both create the virtual environment .venv/ on first use (Python 3.11+ and make are enough).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PYTHONUNBUFFERED := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: demo test test-quick bench notebooks clean help

help:
	@echo "make demo        run the whole kit on the embedded sample dataset (build/demo/)"
	@echo "make test        run every test"
	@echo "make test-quick  skip the slow tests (training, notebook execution)"
	@echo "make bench       print the benchmarks' figures"
	@echo "make notebooks   regenerate course/*.ipynb from course/src/"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "paysages needs Python 3.11 or newer; found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/paysages demo --out build/demo

test: $(STAMP)
	$(BIN)/python -m pytest

test-quick: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_loading.py
	$(BIN)/python benchmarks/bench_autograde.py

notebooks: $(STAMP)
	$(BIN)/python -m autograde.build_notebooks

clean:
	rm -rf build
