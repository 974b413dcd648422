"""Every static asset is served with DEBUG off, by WhiteNoise, as under `make serve`.

collectstatic runs into a temporary STATIC_ROOT with production's storage (hashed
names, gzipped copies), then pages are fetched through the whole middleware stack
and every asset they link to is fetched in turn: the admin's stylesheet, Swagger
UI's bundle, the dashboard's own scripts, stylesheet and vendored libraries.
"""

import re

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

from tests.conftest import ALL_ORDER_PERMISSIONS
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PRODUCTION_STORAGES = {
    **settings.STORAGES,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# WhiteNoise's cache lifetime for a file whose name holds its hash: ten years.
FOREVER = "max-age=315360000"


def assets(html):
    """The local static files a page links to (scripts, stylesheets)."""
    return re.findall(r'(?:src|href)="(/static/[^"]+)"', html)


@pytest.fixture
def production_static(tmp_path, client):
    with override_settings(
        DEBUG=False, STATIC_ROOT=tmp_path / "static", STORAGES=PRODUCTION_STORAGES
    ):
        call_command("collectstatic", "--no-input", verbosity=0)
        yield client.__class__()  # a new handler: WhiteNoise reads STATIC_ROOT at start


def fetch_all(client, paths):
    for path in paths:
        response = client.get(path, headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200, path
        assert FOREVER in response["Cache-Control"], path
        if path.endswith((".js", ".css")):  # text is compressed, images are not
            assert response["Content-Encoding"] == "gzip", path
        yield path


def test_admin_swagger_and_dashboard_assets_are_served(production_static):
    client = production_static
    admin = assets(client.get("/admin/login/").content.decode())
    assert any(re.fullmatch(r"/static/admin/css/base\.[0-9a-f]{12}\.css", a) for a in admin)
    assert list(fetch_all(client, admin))

    docs = assets(client.get("/docs").content.decode())
    bundle = [a for a in docs if "swagger-ui-bundle" in a]
    assert bundle, docs
    assert list(fetch_all(client, docs))

    client.force_login(UserFactory(username="ops", permissions=ALL_ORDER_PERMISSIONS))
    page = assets(client.get("/dashboard/").content.decode())
    names = {re.sub(r"\.[0-9a-f]{12}\.", ".", a.rsplit("/", 1)[1]) for a in page}
    assert names == {"dashboard.css", "dashboard.js", "htmx.min.js", "chart.umd.min.js"}
    assert list(fetch_all(client, page))
