# The two commands the README promises: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEVNET_DIR ?= .devnet/demo

.PHONY: setup tools demo test faults bench contracts clean install

setup: $(STAMP) node_modules/.installed tools

tools:
	bash .ci/ensure-tools.sh

$(STAMP): pyproject.toml constraints.txt adapters/fisco_bcos/pyproject.toml adapters/chainmaker/pyproject.toml adapters/litecoin/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	$(PY) -m pip install --quiet -c constraints.txt -e adapters/fisco_bcos
	$(PY) -m pip install --quiet -c constraints.txt -e adapters/chainmaker
	$(PY) -m pip install --quiet -c constraints.txt -e adapters/litecoin
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Every benchmark, each writing bench/results/NAME.json and the NAME.md rendered from it
# (about 25 minutes on 2 cores); then the README performance table is rendered from them all.
bench: setup
	$(PY) bench/header_update_gas.py
	$(PY) bench/gas_vs_hyperlane.py
	$(PY) bench/gas_vs_hyperlane.py --hardfork cancun --output gas-vs-hyperlane-cancun
	$(PY) bench/fisco_bcos_gas.py
	$(PY) bench/relay_throughput.py --messages 200
	$(PY) bench/relay_throughput.py --messages 200 --rate 20 --output relay-throughput-rate-20
	$(PY) bench/relay_throughput.py --messages 1000 --rate 100 --output relay-throughput-rate-100
	$(PY) bench/relay_throughput.py --messages 1000 --output relay-throughput-burst-1000
	$(PY) bench/catch_up.py --blocks 3000
	$(PY) bench/sustained.py --messages 20000
	$(PY) bench/fleet_takeover.py --rounds 20 --burst 100
	$(PY) bench/render.py

# The full matrix (about 50 minutes on 2 cores: ~30 min of trials, ~21 min of pytest rows). A smoke run,
# written elsewhere:
#   make faults FAULT_TRIALS=5 FAULT_SOLE_TRIALS=1 FAULT_PAUSE_TRIALS=0 FAULT_ARGS=--skip-pytest FAULT_OUT=/tmp/reliability.md
FAULT_TRIALS ?= 60
FAULT_SOLE_TRIALS ?= 15
FAULT_PAUSE_TRIALS ?= 5
FAULT_OUT ?= docs/reliability.md
FAULT_ARGS ?=
faults: setup
	$(PY) bench/faults.py --trials $(FAULT_TRIALS) --sole-trials $(FAULT_SOLE_TRIALS) \
		--pause-trials $(FAULT_PAUSE_TRIALS) --out $(FAULT_OUT) $(FAULT_ARGS)

contracts: setup
	node adapters/evm/build/compile.mjs

demo: setup
	$(PY) -m relayer.devnet.demo --dir $(DEVNET_DIR)

# Test modules run side by side (each module's nodes and devnet stay in one worker): most of
# the suite waits on blocks, not on the CPU. TEST_WORKERS=1 runs them one after another.
TEST_WORKERS ?= 3
test: setup
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

install:
	bash deploy/install.sh --source $(CURDIR) $(if $(DESTDIR),--prefix $(DESTDIR))

clean:
	rm -rf $(VENV) node_modules .devnet
