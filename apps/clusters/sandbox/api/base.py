"""The API server's vocabulary: a request, a response, and Status errors."""

from dataclasses import dataclass, field
from urllib.parse import parse_qs

from ..resources import Resource


class ApiError(Exception):
    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        name: str = "",
        kind: str = "",
        group: str = "",
        causes: list | None = None,
    ):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message
        self.details = {k: v for k, v in (("name", name), ("group", group), ("kind", kind)) if v}
        if causes:
            self.details["causes"] = causes

    def status(self) -> dict:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        }


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""
    readonly: bool = False  # authenticated with the read-only token
    nothing: bool = False  # authenticated, but RBAC allows no resource at all
    metrics_api: bool | str = True  # False: not installed; "broken": answers 503


@dataclass
class Response:
    status: int
    body: object
    watch: dict | None = None  # set for a watch: the server streams it
    headers: dict = field(default_factory=dict)
    follow: object | None = None  # set for `logs -f`: a logs.Follow the server streams on


def parse_query(raw: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}


def qualified(res: Resource) -> str:
    """The resource as the API server names it in messages: "deployments.apps", "pods"."""
    return f"{res.plural}.{res.group}" if res.group else res.plural


def not_found(name: str, res: Resource) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{qualified(res)} "{name}" not found',
        name=name,
        group=res.group,
        kind=res.plural,
    )
