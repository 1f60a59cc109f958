"""The one NinjaAPI: routers from each app, and errors that always name the problem."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, ValidationError
from ninja.errors import HttpError as NinjaHttpError

from apps.costs.api import router as costs_router
from apps.governance.actions_api import router as actions_router
from apps.governance.api import router as governance_router
from apps.governance.errors import ApplicationError
from apps.healing.api import router as healing_router
from apps.predictions.api import router as predictions_router

api = NinjaAPI(
    title="ZeroTouch API",
    version="1",
    description="Kubernetes operations, safely. Authenticate with a session (browser, CSRF) "
    "or `Authorization: Bearer zt_...` (create tokens on the Account page).",
    openapi_url="api/schema",
    docs_url="api/docs",
    docs_decorator=login_required,
    urls_namespace="api",
)
api.add_router("ai/", governance_router)
api.add_router("ai/", predictions_router)
api.add_router("ai/", healing_router)
api.add_router("ai/", costs_router)
api.add_router("api/", actions_router)


@api.exception_handler(ApplicationError)
def application_error(request, exc: ApplicationError):
    return api.create_response(request, exc.as_dict(), status=exc.status)


@api.exception_handler(ValidationError)
def validation_error(request, exc: ValidationError):
    # 400 (not 422) with the first offending field named, and every error listed.
    errors = []
    for err in exc.errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "payload", "query")]
        errors.append({"field": ".".join(loc) or "body", "message": err.get("msg", "invalid")})
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
