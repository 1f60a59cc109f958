"""What the tests share: plain helper modules (import them) and one pytest plugin,
`tests.support.fixtures`, that tests/conftest.py registers for the whole suite.

- `paths`: ROOT, this run's VAR directory, WORKER_MODEL_DIR, REAL_SERVICES.
- `sandbox`: START, start_sandbox, sandbox_cluster, collect_through.
- `users`: persona (a user with roles) and login (a test client logged in).
- `waiting`: wait_for (poll a condition, never a fixed sleep).
- `base_model`: SMALL, the small cold-start base model's spec.
- `costs`: allocation_summary (an Allocation's figures, for comparing two computations).
- `audit`: tamper (change an audit row behind the application's back).
- `browser`: SHOTS, CHROMIUM and browser_login for the Playwright tests.
- `fixtures`: the shared fixtures (personas, sandbox servers and clusters, the worker, models,
  the browser).
"""
