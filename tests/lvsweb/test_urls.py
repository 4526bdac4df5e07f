"""The API's own description: an OpenAPI 3 schema and Swagger UI served without a CDN."""

import re

import pytest

pytestmark = pytest.mark.django_db


def test_the_schema_is_openapi_3_and_lists_the_inventory(client):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    for path in ("/api/virtual-services/", "/api/real-servers/", "/api/clusters/{slug}/", "/api/cluster-hosts/"):
        assert path in schema["paths"]
    assert "post" in schema["paths"]["/api/virtual-services/"]


def test_the_docs_render_with_assets_from_the_sidecar_not_a_cdn(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist" in html
    assert not re.search(r"(?:src|href)=\"(?:https?:)?//", html), html
    for cdn in ("cdn.jsdelivr", "unpkg.com", "cdnjs"):
        assert cdn not in html
