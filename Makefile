# Everything bootstraps itself: `make demo` and `make test` work on a fresh clone with only
# Python 3.11+, git and a package manager (tmux is installed when missing).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: setup tmux demo test test-real agent-clis screens lint format bench screenshots clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (found " + sys.version.split()[0] + ")")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

setup: $(STAMP)

tmux:
	@sh .ci/ensure-tmux

demo: setup tmux
	$(BIN)/gt demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: setup tmux lint
	$(BIN)/python -m pytest -q -n 2 $(PYTEST_ARGS)

# The real Claude Code, Codex and Gemini CLI at pinned versions (npm, into ~/.cache), for the
# realcli tests; `make test` runs them too (skipped loudly when the programs are missing).
agent-clis: setup
	$(BIN)/python tests/agent_clis.py

test-real: setup tmux agent-clis
	$(BIN)/python -m pytest -q -n 2 -m realcli $(PYTEST_ARGS)

# Capture the real programs' screens again into tests/data/screens/ (after a pin changes).
screens: setup tmux agent-clis
	$(BIN)/python -m tests.capture_screens

bench: setup tmux
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

screenshots: setup
	$(BIN)/python -m gastown_tui.tui.screenshots screenshots

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist
