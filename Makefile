# The two commands a newcomer needs: `make demo` and `make test`.
# Both create the virtual environment .venv/ on first use (Python 3.11+ and make are enough).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Both cores (pytest-xdist); tests that share an expensive session fixture stay on one worker.
PARALLEL := -n 2 --dist loadgroup
export PYTHONUNBUFFERED := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: demo test test-quick bench notebooks clean help

help:
	@echo "make demo        run the whole kit on the embedded sample dataset (build/demo/)"
	@echo "make test        run every test on both cores, then list the 15 slowest"
	@echo "make test-quick  skip the slow tests (training, notebook execution)"
	@echo "make bench       print the benchmarks' figures"
	@echo "make notebooks   regenerate course/*.ipynb from course/src/ (and the registry's archive fingerprint from autograde/course.json)"

# Debian and Ubuntu ship the venv module separately (python3-venv): without it `python3 -m venv`
# leaves a broken environment behind, so that is removed and the message says what to install.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "paysages needs Python 3.11 or newer; found " + sys.version.split()[0])'
	@if ! $(BIN)/python -m pip --version >/dev/null 2>&1; then \
	  echo "$(PYTHON) -m venv $(VENV)"; \
	  if ! $(PYTHON) -m venv $(VENV); then \
	    rm -rf $(VENV); \
	    package=$$($(PYTHON) -c 'import sys; print("python%d.%d-venv" % sys.version_info[:2])'); \
	    echo "" >&2; \
	    echo "error: '$(PYTHON) -m venv' could not create the virtual environment $(VENV)." >&2; \
	    echo "On Debian or Ubuntu, install the venv module, then run make again:" >&2; \
	    echo "    sudo apt-get install python3-venv    (or $$package)" >&2; \
	    exit 1; \
	  fi; \
	fi
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/paysages demo --out build/demo

test: $(STAMP)
	$(BIN)/python -m pytest $(PARALLEL) --durations=15

test-quick: $(STAMP)
	$(BIN)/python -m pytest $(PARALLEL) -m "not slow"

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_loading.py
	$(BIN)/python benchmarks/bench_autograde.py

notebooks: $(STAMP)
	$(BIN)/python -m autograde.build_notebooks

clean:
	rm -rf build
