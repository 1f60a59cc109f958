"""One error family for services; views and the API turn them into 400/403/404/409."""


class ApplicationError(Exception):
    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def as_dict(self) -> dict:
        out = {"detail": self.message}
        if self.field:
            out["field"] = self.field
        return out


class ValidationFailed(ApplicationError):
    status = 400


class RoleRequired(ApplicationError):
    status = 403


class NotFound(ApplicationError):
    status = 404


class Conflict(ApplicationError):
    status = 409


class Unavailable(ApplicationError):
    """A cluster or service needed to decide is not reachable now; try again."""

    status = 503
