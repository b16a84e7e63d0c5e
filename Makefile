# The two commands the README promises: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEVNET_DIR ?= .devnet/demo

.PHONY: setup tools demo test faults contracts clean install

setup: $(STAMP) node_modules/.installed tools

tools:
	bash .ci/ensure-tools.sh

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

faults: setup
	$(PY) bench/faults.py --trials 100 --out docs/reliability.md

contracts: setup
	node adapters/evm/build/compile.mjs

demo: setup
	$(PY) -m relayer.demo --dir $(DEVNET_DIR)

test: setup
	$(PY) -m pytest -q

install:
	bash deploy/install.sh --source $(CURDIR) $(if $(DESTDIR),--prefix $(DESTDIR))

clean:
	rm -rf $(VENV) node_modules .devnet
