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


@pytest.mark.parametrize("url", ["/api/nope/", "/api/clusters/not%20a%20slug/", "/api/clusters/a%00b/"])
def test_an_unknown_api_url_is_a_json_404(admin_client, url):
    response = admin_client.get(url)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_an_unknown_console_url_is_the_html_404(admin_client):
    response = admin_client.get("/nope/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
