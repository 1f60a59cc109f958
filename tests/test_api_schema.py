"""The API as its own schema says it is (issue 18, defect 7): schemathesis generates requests
from the OpenAPI schema and sends them to the running API (pytest-django's live server, real
PostgreSQL), as an admin with a bearer token. Every answer must be declared in the schema, in
its declared shape, never a 500; a request the schema allows must not be refused as invalid.
Examples are bounded per operation so CI stays fast."""

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from aiops_site.api import api
from apps.core.services import api_token_create

pytestmark = pytest.mark.django_db(transaction=True)

schema = schemathesis.openapi.from_dict(api.get_openapi_schema())

# Rules no schema can state, so a schema-valid request may still be refused with a 400 that
# names the field. Only these operations skip the "schema-valid data is accepted" check.
CONTEXTUAL = {
    "POST /ai/safety/enable": "an expiry must lie in the future: no schema can say after now",
    "POST /ai/safety/switch": "an expiry must lie in the future: no schema can say after now",
    "POST /chaos/inject-failure": "the cluster, namespace and Deployment must exist and the "
    "namespace opt in; the fault and its parameters are checked per fault: no schema says so",
    "POST /chaos/experiments": "as inject-failure, and a cron expression and a time zone must "
    "be real ones",
    "POST /chaos/gamedays": "the experiments must be saved experiments that exist",
    "POST /integrations/alertmanager": "only an Alertmanager receiver's token opens it, not a "
    "user's: every call here is a 401",
    "POST /ai/alert-receivers": "the cluster (or else a list of clusters) must exist, the name "
    "be a free slug and the labels Prometheus label names",
}


@pytest.fixture
def admin_token(adam):
    return api_token_create(user=adam, name="schemathesis")[1]


@schema.parametrize()
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_operation_answers_as_its_schema_says(case, live_server, admin_token):
    contextual = f"{case.operation.method.upper()} {case.operation.path}" in CONTEXTUAL
    with requests.Session() as session:
        case.call_and_validate(
            base_url=live_server.url,
            session=session,
            headers={"Authorization": f"Bearer {admin_token}"},
            excluded_checks=[positive_data_acceptance] if contextual else [],
        )


def test_a_bearer_token_reads_the_schema_and_an_anonymous_caller_gets_json(
    live_server, admin_token
):
    ok = requests.get(
        f"{live_server.url}/api/schema",
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=10,
    )
    assert ok.status_code == 200 and ok.json()["info"]["title"] == "ZeroTouch API"
    anonymous = requests.get(f"{live_server.url}/api/schema", timeout=10, allow_redirects=False)
    assert anonymous.status_code == 401 and "bearer token" in anonymous.json()["detail"]
    docs = requests.get(f"{live_server.url}/api/docs", timeout=10, allow_redirects=False)
    assert docs.status_code == 302 and "/login/" in docs.headers["Location"]


def test_an_unknown_api_path_is_a_json_404(live_server):
    r = requests.get(f"{live_server.url}/api/nothing-here", timeout=10)
    assert r.status_code == 404 and r.json()["detail"].startswith("no such endpoint")
