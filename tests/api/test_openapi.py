"""The OpenAPI schema: generated without a warning, valid, complete, served with its UI."""

import re
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from rest_framework.test import APIClient

from orders_write.errors import ErrorCode

README = Path(__file__).resolve().parents[2] / "README.md"

OPERATIONS = {
    ("get", "/health"): "health",
    ("post", "/orders"): "place_order",
    ("post", "/orders/{order_id}/approve"): "approve_order",
    ("post", "/orders/{order_id}/cancel"): "cancel_order",
    ("get", "/orders/dashboard"): "dashboard_list",
    ("get", "/orders/dashboard/{order_id}"): "dashboard_row",
    ("get", "/customers/{customer_id}/orders"): "customer_orders",
    ("get", "/stats/summary"): "stats_summary",
    ("get", "/stats/daily"): "stats_daily",
}


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    """Generated as CI checks it: validated against the OpenAPI 3 spec, warnings fail."""
    path = tmp_path_factory.mktemp("openapi") / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    return yaml.safe_load(path.read_text())


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def codes_of(schema, operation, status):
    ref = operation["responses"][str(status)]["content"]["application/json"]["schema"]["$ref"]
    component = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    enum_ref = component["properties"]["code"]["allOf"][0]["$ref"]
    return set(schema["components"]["schemas"][enum_ref.rsplit("/", 1)[1]]["enum"])


def test_every_endpoint_is_documented_once(schema):
    documented = {(method, path): op["operationId"] for method, path, op in operations(schema)}
    assert documented == OPERATIONS
    assert schema["openapi"].startswith("3.")


def test_every_response_is_an_envelope_with_the_request_id(schema):
    for method, path, operation in operations(schema):
        for status, response in operation["responses"].items():
            assert "X-Request-ID" in response["headers"], (method, path, status)
            if path == "/health" or (method == "get" and status == "200"):
                continue  # health's own shape; the dashboard's rows and pages
            ref = response["content"]["application/json"]["schema"]["$ref"]
            component = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
            expected = (
                {"success", "data"} if status.startswith("2") else {"success", "error", "code"}
            )
            assert set(component["required"]) == expected, (method, path, status)


def test_authentication_schemes_and_statuses(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["tokenAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": 'Token-based authentication with required prefix "Token"',
    }
    assert schemes["cookieAuth"]["in"] == "cookie"
    for _, path, operation in operations(schema):
        if path == "/health":
            # Anonymous callers get the status; bad credentials are the only 401.
            assert operation["security"] == [{"tokenAuth": []}, {"cookieAuth": []}, {}]
            assert codes_of(schema, operation, 401) == {"AUTHENTICATION_FAILED"}
            assert "403" not in operation["responses"]
            continue
        assert operation["security"] == [{"tokenAuth": []}, {"cookieAuth": []}]
        assert codes_of(schema, operation, 401) == {"NOT_AUTHENTICATED", "AUTHENTICATION_FAILED"}
        assert codes_of(schema, operation, 403) == {"PERMISSION_DENIED"}


def test_each_command_lists_its_codes(schema):
    ops = {op["operationId"]: op for _, _, op in operations(schema)}
    place, approve, cancel = ops["place_order"], ops["approve_order"], ops["cancel_order"]
    assert set(place["responses"]) == {"201", "400", "401", "403", "409", "413", "415", "422"}
    assert codes_of(schema, place, 422) == {
        "CUSTOMER_NOT_FOUND",
        "ACCOUNT_SUSPENDED",
        "PAYMENT_METHOD_INVALID",
        "EMPTY_ORDER",
        "TOO_MANY_LINES",
        "DUPLICATE_PRODUCT",
        "INVALID_QUANTITY",
        "PRODUCT_NOT_FOUND",
        "PRODUCT_UNAVAILABLE",
        "PRICE_MISMATCH",
        "ORDER_TOO_LARGE",
        "IDEMPOTENCY_KEY_REUSED",
    }
    for operation in (place, approve, cancel):
        assert codes_of(schema, operation, 400) == {"VALIDATION_ERROR", "IDEMPOTENCY_KEY_INVALID"}
        assert codes_of(schema, operation, 413) == {"REQUEST_TOO_LARGE"}
        assert codes_of(schema, operation, 415) == {"UNSUPPORTED_MEDIA_TYPE"}
        assert "IDEMPOTENCY_KEY_IN_PROGRESS" in codes_of(schema, operation, 409)
        headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
        assert headers == {"Idempotency-Key", "X-Request-ID"}
        success = next(code for code in operation["responses"] if code.startswith("2"))
        assert "Idempotent-Replayed" in operation["responses"][success]["headers"]
    for operation in (approve, cancel):
        assert codes_of(schema, operation, 404) == {"ORDER_NOT_FOUND"}
        assert codes_of(schema, operation, 409) == {
            "INVALID_TRANSITION",
            "IDEMPOTENCY_KEY_IN_PROGRESS",
        }
    assert codes_of(schema, cancel, 422) == {"REASON_REQUIRED", "IDEMPOTENCY_KEY_REUSED"}


def test_the_dashboard_documents_filters_pages_and_the_wait(schema):
    ops = {op["operationId"]: op for _, _, op in operations(schema)}
    listed = {p["name"] for p in ops["dashboard_list"]["parameters"] if p["in"] == "query"}
    assert listed == {
        "status",
        "is_high_value",
        "placed_after",
        "placed_before",
        "customer_email",
        "cursor",
        "page_size",
    }
    page = ops["dashboard_list"]["responses"]["200"]["content"]["application/json"]["schema"]
    paginated = schema["components"]["schemas"][page["$ref"].rsplit("/", 1)[1]]
    assert set(paginated["properties"]) == {"next", "previous", "results"}
    row = ops["dashboard_row"]
    query = {p["name"]: p["schema"] for p in row["parameters"] if p["in"] == "query"}
    assert query["wait"] == {"type": "integer", "maximum": 10000, "minimum": 0, "default": 2000}
    assert query["min_version"]["minimum"] == 1
    assert "Read-Model-Stale" in row["responses"]["200"]["headers"]
    assert "Read-Model-Stale" in row["responses"]["404"]["headers"]


def test_dates_and_integers_are_described_as_strictly_as_they_are_read(schema):
    ops = {op["operationId"]: op for _, _, op in operations(schema)}
    for operation in ("dashboard_list", "customer_orders"):
        query = {p["name"]: p["schema"] for p in ops[operation]["parameters"] if p["in"] == "query"}
        for name in ("placed_after", "placed_before"):
            assert query[name]["anyOf"] == [{"format": "date"}, {"format": "date-time"}]
    components = schema["components"]["schemas"]
    place_order, line = components["PlaceOrderInput"], components["OrderLineInput"]
    for field in ("customer_id", "payment_method_id"):
        assert place_order["properties"][field]["type"] == "integer"
    for field in ("product_id", "quantity", "price_cents"):
        assert line["properties"][field]["type"] == "integer"


def test_every_api_code_is_in_the_schema_and_in_the_readme(schema):
    documented = set()
    for name, component in schema["components"]["schemas"].items():
        if name.endswith("CodeEnum"):
            documented |= set(component["enum"])
    api_codes = {code.value for code in ErrorCode} - {"NO_HANDLER"}
    assert api_codes <= documented
    readme_table = set(re.findall(r"^\| `([A-Z_]+)`", README.read_text(), re.MULTILINE))
    readme_codes = readme_table | set(re.findall(r"/ `([A-Z_]+)` \|", README.read_text()))
    assert documented <= readme_codes


def test_the_schema_and_the_ui_are_served_without_login(db):
    client = APIClient()
    as_json = client.get("/schema", {"format": "json"})
    assert as_json.status_code == 200
    assert as_json.json()["info"]["title"] == "CQRS orders API"
    assert client.get("/schema/").status_code == 200

    docs = client.get("/docs")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    # Nothing from a CDN: the machines this runs on are offline.
    assert not re.search(r"""(src|href)=["']https?://""", html)
