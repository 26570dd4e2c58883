# Two commands on a fresh clone: `make demo` and `make test`. Both create/refresh .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit sshd clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/edgeres demo --out edgeres-demo --force

lint: $(STAMP)
	$(BIN)/ruff check edgeres tests benchmarks cli.py
	$(BIN)/ruff format --check edgeres tests benchmarks cli.py

typecheck: $(STAMP)
	$(BIN)/mypy edgeres

# The remote-benchmark tests talk to a real OpenSSH server on 127.0.0.1.
sshd:
	sh scripts/ensure-sshd.sh

unit: $(STAMP) sshd
	$(BIN)/python -m pytest -q

test: lint typecheck unit

clean:
	rm -rf $(VENV) edgeres-demo .pytest_cache .mypy_cache .ruff_cache .cache
