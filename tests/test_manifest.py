"""The Procore app manifest is valid and every URL in it is a route the app serves."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = json.loads((ROOT / "manifest" / "procore-app.json").read_text())
SCHEMA = json.loads((ROOT / "manifest" / "schema-v3.json").read_text())
PORTAL = json.loads((ROOT / "manifest" / "portal-settings.json").read_text())


def manifest_urls() -> list[str]:
    urls = [i["iframe_src"] for i in MANIFEST["components"]["iframe"]["instances"]]
    urls.append(MANIFEST["post_installation_instruction"]["page"]["url"])
    urls.extend(PORTAL["redirect_uris"])
    urls.append(PORTAL["external_url"])
    return urls


def test_manifest_validates_against_schema():
    jsonschema.validate(MANIFEST, SCHEMA)


def test_schema_rejects_a_sidepanel_without_views():
    broken = json.loads(json.dumps(MANIFEST))
    for instance in broken["components"]["iframe"]["instances"]:
        instance.pop("views", None)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)


def test_schema_rejects_an_unknown_view_key():
    broken = json.loads(json.dumps(MANIFEST))
    broken["components"]["iframe"]["instances"][1]["views"] = ["prime_contracts.detail.all.bogus"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)


def test_declares_the_components_the_product_needs():
    instances = MANIFEST["components"]["iframe"]["instances"]
    kinds = {i["type"]: i for i in instances}
    assert kinds["fullscreen"]["name"] == "Collections"
    assert "{{procore.company.id}}" in kinds["fullscreen"]["iframe_src"]
    assert "{{procore.project.id}}" in kinds["fullscreen"]["iframe_src"]
    assert {"prime_contracts.detail", "prime_contracts.payment_applications.detail"} <= set(
        kinds["sidepanel"]["views"]
    )
    assert MANIFEST["components"]["oauth"]["instances"][0]["grant_type"] == "authorization_code"


@pytest.mark.parametrize("url", manifest_urls())
def test_every_manifest_url_is_served(app, url):
    parts = urlsplit(url)
    adapter = app.url_map.bind("collections.example.com")
    endpoint, _ = adapter.match(parts.path, method="GET")
    assert endpoint != "static"
    # Procore interpolates ids into the query: the view must read the same names.
    params = parse_qs(parts.query)
    for name in params:
        assert name in {"company_id", "project_id"}


def test_interpolated_urls_render(client):
    # What Procore requests at company level (empty project id): no server error, Connect screen when anonymous.
    response = client.get("/collections?company_id=101&project_id=")
    assert response.status_code == 200
    assert b"Connect to Procore" in response.data
    response = client.get("/panel?company_id=101&project_id=2001")
    assert response.status_code == 200
