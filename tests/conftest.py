"""The shared fixtures live in tests/support/fixtures.py (registered here, once, for the whole
suite) and the helpers tests import in tests/support/*.py; tests/services.py (loaded by
pyproject's addopts) has chosen the databases and broker before Django starts."""

pytest_plugins = ["tests.support.fixtures"]
