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

# Three xdist workers on two cores (each with its own test database and var/test/gwN): the demo and
# worker tests mostly wait, and a third worker fills the idle core; the slowest modules start first,
# one share each (tests/support/ordering.py), and worksteal evens the rest.
PYTEST_WORKERS ?= 3
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
