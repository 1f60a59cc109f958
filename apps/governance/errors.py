"""The action engine's own error; the family it belongs to lives in apps/core/errors.py."""

from apps.core.errors import ApplicationError


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
