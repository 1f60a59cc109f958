"""The one NinjaAPI: routers from each app, and errors that always name the problem — as
JSON, in every mode."""

import logging
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from ninja import NinjaAPI, Swagger
from ninja.errors import AuthenticationError, ValidationError
from ninja.errors import HttpError as NinjaHttpError

from apps.chaos.api import router as chaos_router
from apps.core import context
from apps.core.api import router as core_router
from apps.core.errors import ApplicationError
from apps.core.roles import Cap, user_can
from apps.core.selectors import api_token_authenticate
from apps.costs.api import router as costs_router
from apps.governance.actions_api import router as actions_router
from apps.governance.api import router as governance_router
from apps.healing.alertmanager_api import integrations as integrations_router
from apps.healing.alertmanager_api import receivers as receivers_router
from apps.healing.api import router as healing_router
from apps.predictions.api import router as predictions_router

log = logging.getLogger(__name__)


def docs_access(view):
    """The schema and the docs, for a signed-in user or a bearer token: tools fetch the schema
    with a token (401 JSON without one); people opening the docs are sent to sign in."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        header = request.headers.get("Authorization", "")
        if not request.user.is_authenticated:
            token = header[7:].strip() if header[:7].lower() == "bearer " else ""
            user = api_token_authenticate(token) if token else None
            if user is None:
                if header or not request.path.rstrip("/").endswith("docs"):
                    return JsonResponse(
                        {"detail": "authentication required: a session or a bearer token"},
                        status=401,
                    )
                return redirect_to_login(request.get_full_path())
            request.user = user
        if not user_can(request.user, Cap.VIEW):
            return JsonResponse({"detail": "requires the 'view' permission"}, status=403)
        return view(request, *args, **kwargs)

    return wrapped


ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "detail": {"type": "string", "description": "what is wrong, in words"},
        "field": {"type": "string", "description": "the field at fault, when one is"},
        "errors": {
            "type": "array",
            "description": "every problem of a body that failed validation",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
    "required": ["detail"],
}
ERRORS = {
    "400": "bad input: the field is named and nothing was written",
    "401": "no session and no valid bearer token",
    "403": "the caller's role does not allow this",
    "404": "the thing asked for (or named in the body) does not exist",
    "500": "a bug: logged with the request id in the answer",
}
WRITE_ERRORS = {"409": "it changed meanwhile, or is no longer in a state that allows this"}


class ZeroTouchAPI(NinjaAPI):
    def get_openapi_schema(self, *args, **kwargs):
        """The schema declares every error an operation can answer, all in one JSON shape."""
        schema = super().get_openapi_schema(*args, **kwargs)
        schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        for ops in schema.get("paths", {}).values():
            for method, op in ops.items():
                errors = {**ERRORS, **(WRITE_ERRORS if method != "get" else {})}
                for code, text in errors.items():
                    op["responses"].setdefault(code, {"description": text, "content": ref})
        return schema


api = ZeroTouchAPI(
    title="ZeroTouch API",
    version="1",
    description="Kubernetes operations, safely. Authenticate with a session (browser, CSRF) "
    "or `Authorization: Bearer zt_...` (create tokens on the Account page).",
    openapi_url="api/schema",
    docs_url="api/docs",
    # Without deep links an operation's summary holds no link inside its button (axe:
    # nested-interactive); the page's own stylesheet mends Swagger UI's contrast.
    docs=Swagger(settings={"deepLinking": False}),
    docs_decorator=docs_access,
    urls_namespace="api",
)
api.add_router("ai/", governance_router)  # /ai/status
api.add_router("ai/", core_router)  # /ai/safety/...
api.add_router("ai/", predictions_router)
api.add_router("ai/", healing_router)
api.add_router("ai/", receivers_router)  # /ai/alert-receivers
api.add_router("integrations/", integrations_router)  # /integrations/alertmanager
api.add_router("ai/", costs_router)
api.add_router("api/", actions_router)
api.add_router("chaos/", chaos_router)


@api.exception_handler(ApplicationError)
def application_error(request, exc: ApplicationError):
    return api.create_response(request, exc.as_dict(), status=exc.status)


@api.exception_handler(ValidationError)
def validation_error(request, exc: ValidationError):
    # 400 (not 422) with the first offending field named, and every error listed.
    errors = []
    for err in exc.errors:
        loc = [p for p in err.get("loc", ()) if p not in ("body", "payload", "query", "filters")]
        field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        errors.append({"field": field or "body", "message": err.get("msg", "invalid")})
    first = errors[0] if errors else {"field": "body", "message": "invalid request"}
    body = {
        "detail": f"{first['field']}: {first['message']}",
        "field": first["field"],
        "errors": errors,
    }
    return api.create_response(request, body, status=400)


@api.exception_handler(RequestDataTooBig)
def too_big(request, exc):
    return api.create_response(
        request, {"detail": "request body is too large", "field": "body"}, status=400
    )


@api.exception_handler(AuthenticationError)
def unauthenticated(request, exc):
    return api.create_response(
        request, {"detail": "authentication required: a session or a bearer token"}, status=401
    )


@api.exception_handler(NinjaHttpError)
def http_error(request, exc: NinjaHttpError):
    body = {"detail": str(exc)}
    if exc.status_code == 400:  # ninja raises this only when the body cannot be read
        body = {"field": "body", "detail": "request body is not valid JSON"}
        if isinstance(exc.__cause__, RequestDataTooBig):
            body["detail"] = "request body is too large"
    return api.create_response(request, body, status=exc.status_code)


@api.exception_handler(Exception)
def internal_error(request, exc: Exception):
    """A bug: logged with its traceback, answered as JSON (never an HTML page) with the
    request id that finds it in the log."""
    log.exception("API error on %s %s", request.method, request.path)
    rid = context.current().request_id
    return api.create_response(
        request,
        {"detail": f"internal error (request {rid or 'unknown'}); see the server log"},
        status=500,
    )


def json_not_found(request, exception=None):
    """handler404 for API paths: JSON like every other API answer."""
    return JsonResponse(
        {"detail": f"no such endpoint: {request.method} {request.path}"}, status=404
    )
