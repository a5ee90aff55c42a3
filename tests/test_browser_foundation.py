"""The host page (imitating Procore's shell, another site) frames the app, with the right security headers."""

from __future__ import annotations

import pytest
from flask import Flask

from embedded_app.devserver import serve

pytestmark = pytest.mark.browser


def test_host_page_frames_the_app_with_security_headers(demo_stack, page):
    responses = {}
    page.on("response", lambda r: responses.setdefault(r.url.split("?")[0], r))
    page.goto(demo_stack.host_url + "/")
    frame = page.frame_locator("#fullscreen-app")
    frame.get_by_role("button", name="Connect to Procore").wait_for()

    doc = responses[demo_stack.app_url + "/collections"]
    headers = doc.all_headers()
    csp = headers["content-security-policy"]
    ancestors = next(p for p in csp.split(";") if p.strip().startswith("frame-ancestors")).split()[1:]
    assert demo_stack.host_url in ancestors
    assert "https://app.procore.com" in ancestors
    assert "*" not in ancestors
    assert "hx-request" in headers["vary"].lower()
    cookie = headers["set-cookie"].lower()
    assert cookie.startswith("collections_session=")
    for attribute in ("samesite=none", "secure", "partitioned", "httponly"):
        assert attribute in cookie
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_a_site_that_is_not_procore_cannot_frame_the_app(demo_stack, page):
    evil = Flask("evil")

    @evil.get("/")
    def framing_page():
        return f'<iframe id="x" src="{demo_stack.app_url}/collections?company_id=1"></iframe>'

    server = serve(evil, "127.0.0.1", 0)
    try:
        page.goto(server.url + "/")
        page.wait_for_timeout(1000)
        frame = page.frame_locator("#x")
        assert frame.get_by_role("button", name="Connect to Procore").count() == 0
        assert any("frame-ancestors" in e for e in page.console_errors)  # type: ignore[attr-defined]
    finally:
        server.stop()
