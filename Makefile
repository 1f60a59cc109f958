# ZeroTouch. `make demo` runs the whole product; `make test` runs the suite. Both set up .venv.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install demo test bench lint format screenshots clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

# Embedded default: SQLite + filesystem broker under var/, web on 127.0.0.1:8000, a real
# Celery worker and beat. Ctrl-C stops them all.
demo: install
	DEBUG=1 $(PY) manage.py demo

# Two xdist workers (each with its own test database and var/test/gwN); the slowest modules
# start first, split between the two (tests/support/ordering.py), and worksteal evens the rest.
PYTEST_WORKERS ?= 2
test: install
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist worksteal

bench: install
	$(PY) -m benchmarks

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports

format: install
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# Dashboard screenshots for the README, taken by the browser tests.
screenshots: install
	SCREENSHOT_DIR=docs/screenshots $(PY) -m pytest -m browser -q

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache
