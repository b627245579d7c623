# Quick start:  make demo   (set-up, then DCL next to BP on real Fashion-MNIST)
#               make test   (set-up, then every test)
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
# Real data: ../shared/data when it is there (CI and this workplace), else the user cache.
DCL_DATA_DIR ?= $(shell [ -d ../shared/data ] && cd ../shared/data && pwd)
export DCL_DATA_DIR
WHEELS := $(shell [ -d /opt/wheels ] && echo --find-links /opt/wheels)

.PHONY: setup demo test test-fast data bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip >/dev/null 2>&1 || true
	$(PY) -m pip install -q $(WHEELS) torch==2.13.0
	$(PY) -m pip uninstall -q -y dcl >/dev/null 2>&1 || true   # the package's former distribution name
	$(PY) -m pip install -q $(WHEELS) -e ".[dev]"
	touch $@

# Fashion-MNIST for the demo: the data folder if it has it, else Debian's package, else a
# checksummed download (dcl data fetch).
data: setup
	@if $(PY) -c "import sys, dcl.data as d; sys.exit(d.find_dataset_folder('fashion-mnist') is None)"; then \
	  echo "Fashion-MNIST found"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; then \
	  echo "Fashion-MNIST installed from Debian's dataset-fashion-mnist"; \
	else \
	  $(VENV)/bin/dcl data fetch fashion-mnist; \
	fi

demo: data
	$(VENV)/bin/dcl demo

test: setup
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

bench: setup
	$(VENV)/bin/dcl bench --arch conv --data cifar10 --batch-size 128 --methods bp,dcl,dcl-s

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
