"""Where this test run keeps things, and whether it runs on the real services."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Set by tests/services.py (the `-p tests.services` plugin) before any test module is imported:
# this run's own directory, and each xdist worker's.
VAR = Path(os.environ["ZEROTOUCH_VAR_DIR"])
REAL_SERVICES = os.environ.get("ZT_TEST_REAL_SERVICES") == "1"
# Models the worker process reads and writes; tests that share them point MODEL_DIR here too.
WORKER_MODEL_DIR = VAR / "models"
