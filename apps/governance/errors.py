"""The action engine's own errors; the family they belong to lives in apps/core/errors.py."""

from apps.core.errors import ApplicationError, Conflict


class Replaced(ApplicationError):
    """A proposal that was replaced by a fresh one before anyone decided on it: the answer
    names the successor to review instead."""

    status = 409

    def __init__(self, message: str, *, successor: int) -> None:
        super().__init__(message, field="id")
        self.successor = successor

    def as_dict(self) -> dict:
        return {
            **super().as_dict(),
            "successor": self.successor,
            "successor_url": f"/api/actions/{self.successor}",
        }


class Changed(Conflict):
    """A decision on an action as someone was shown it, after it changed (its parameters, and
    so its fingerprint): nothing is recorded, and the answer points at the action as it is."""

    def __init__(self, message: str, *, current: int) -> None:
        super().__init__(message, field="fingerprint")
        self.current = current

    def as_dict(self) -> dict:
        return {
            **super().as_dict(),
            "current": self.current,
            "current_url": f"/api/actions/{self.current}",
        }
