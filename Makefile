# Two commands on a fresh clone: `make demo` and `make test`. Both create/refresh .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint typecheck unit sshd chromium qemu-x86 test-arm64 clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/edgeres demo --out edgeres-demo --force

lint: $(STAMP)
	$(BIN)/ruff check edgeres tests benchmarks scripts cli.py
	$(BIN)/ruff format --check edgeres tests benchmarks scripts cli.py

typecheck: $(STAMP)
	$(BIN)/mypy edgeres

# The remote-benchmark tests talk to a real OpenSSH server on 127.0.0.1.
sshd:
	sh scripts/ensure-sshd.sh

# The pipeline's report.html is checked in a real headless browser.
chromium:
	sh scripts/ensure-chromium.sh

# int8 files are checked on an AVX2-only x86 CPU too: natively where this is one, else under qemu-user.
qemu-x86:
	sh scripts/ensure-qemu-x86.sh

# Both cores (pytest-xdist, one test file per worker at a time so module fixtures are made once), then the
# tests that time latencies side by side, alone on the machine. --durations lists the slowest: the suite's
# budget is 12 minutes on a 2-core machine.
WORKERS ?= 2
# Both runs share the files tests make once (exports, int8 files, board virtualenvs): EDGERES_TEST_SHARED.
unit: $(STAMP) sshd chromium qemu-x86
	shared=$$(mktemp -d) && export EDGERES_TEST_SHARED=$$shared && \
	$(BIN)/python -m pytest -q -n $(WORKERS) --dist loadfile -m "not timing" --durations=15 && \
	$(BIN)/python -m pytest -q -m timing --durations=5; status=$$?; rm -rf "$$shared"; exit $$status

test: lint typecheck unit

# The edit loop: lint, types and the tests that need neither the loopback sshd, a GPU, nor minutes.
test-fast: lint typecheck chromium qemu-x86
	$(BIN)/python -m pytest -q -n $(WORKERS) -m "not slow and not ssh and not gpu and not timing" -x

# Opt-in (minutes, needs root): the remote benchmark against an emulated arm64 board (scripts/arm64-board.sh).
test-arm64: $(STAMP)
	PYTHON=$(BIN)/python sh scripts/arm64-board.sh build
	sh scripts/arm64-board.sh start
	mkdir -p .cache/arm64/config/targets && cp .cache/arm64/target.toml .cache/arm64/config/targets/arm64-emulated.toml
	EDGERES_CONFIG_DIR=.cache/arm64/config $(BIN)/python scripts/arm64_check.py; \
		rc=$$?; sh scripts/arm64-board.sh stop; exit $$rc

clean:
	[ ! -d .cache/arm64/root ] || sh scripts/arm64-board.sh stop  # never delete through its /dev, /proc mounts
	rm -rf --one-file-system $(VENV) edgeres-demo .pytest_cache .mypy_cache .ruff_cache .cache
