"""Wait on a condition instead of sleeping a fixed time."""

import time


def wait_for(predicate, *, timeout: float, what: str, interval: float = 0.2):
    """predicate's first truthy result, polled every `interval` s; fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
