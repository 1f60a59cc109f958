"""The shared fixtures live in tests/support/fixtures.py and the run order in
tests/support/ordering.py (both registered here, once, for the whole suite), and the helpers
tests import in tests/support/*.py; tests/services.py (loaded by pyproject's addopts) has chosen
the databases and broker before Django starts."""

pytest_plugins = ["tests.support.fixtures", "tests.support.ordering"]
