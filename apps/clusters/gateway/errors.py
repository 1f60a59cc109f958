"""Typed gateway failures. Callers decide by type: retry Unreachable, stop on Forbidden..."""


class GatewayError(Exception):
    retryable = False

    def __init__(self, message: str, *, status: int | None = None, reason: str = ""):
        super().__init__(message)
        self.message, self.status, self.reason = message, status, reason


class Unreachable(GatewayError):
    """Network failure, timeout, or a 5xx/429 from the API server: try again later."""

    retryable = True


class ConfigInvalid(GatewayError):
    """The kubeconfig or service-account setup cannot be used (missing, malformed, expired)."""


class Unauthorized(GatewayError):
    """401: the credentials were refused."""


class Forbidden(GatewayError):
    """403: RBAC does not allow this verb on this resource."""


class NotFound(GatewayError):
    pass


class Conflict(GatewayError):
    """409: a precondition (uid, resourceVersion) did not hold, or the object exists."""


class Invalid(GatewayError):
    """400/422: the API server refused the request as malformed or invalid."""


class PDBBlocked(GatewayError):
    """429 on an eviction: a PodDisruptionBudget does not allow it now. Retry until a
    deadline, then give up."""

    retryable = True
