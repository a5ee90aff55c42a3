"""A browser that refuses the framed app's cookie (as Safari does with third-party cookies): every response to
the Procore-like host page's frames reaches the browser without its ``Set-Cookie`` header, so the app must sign
in, refresh, show and navigate on its session token alone. The sign-in popup is a first-party window and keeps
its own cookie (state + PKCE), as in a real browser; the callback deletes it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

from .fixtures.browser import CHROMIUM, CHROMIUM_ARGS
from .fixtures.webapp import SUMMIT
from .test_browser_collections import connect_in_popup

pytestmark = pytest.mark.browser
HOP_BY_HOP = {"host", "content-length", "connection", "transfer-encoding", "content-encoding", "keep-alive"}


def app_cookies(context, app_url: str) -> list[dict]:
    return [c for c in context.cookies() if c["domain"] in ("localhost", ".localhost")] + context.cookies(app_url)


@pytest.fixture(params=["storage-denied", "storage-partitioned"])
def frame_page(request, browser, page) -> Iterator[tuple[Any, bool]]:
    """(page, whether the frame may use sessionStorage). Debian's Chromium denies a frame of another site its
    storage as well (third-party cookie deprecation); with that feature off it partitions storage, as Safari does."""
    if request.param == "storage-denied":
        yield page, False
        return
    partitioning = browser.browser_type.launch(
        executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, "--disable-features=TrackingProtection3pcd"])
    other = partitioning.new_context(viewport={"width": 1440, "height": 900}).new_page()
    other.console_errors = []  # type: ignore[attr-defined]
    other.on("console", lambda msg: msg.type == "error" and other.console_errors.append(msg.text))
    other.on("pageerror", lambda exc: other.console_errors.append(str(exc)))
    yield other, True
    partitioning.close()


def test_frame_without_cookies_signs_in_syncs_and_navigates(demo_stack, frame_page):
    page, has_storage = frame_page
    app_url = demo_stack.app_url
    seen: dict[str, list[str]] = {"stripped": [], "cookie_sent": [], "urls": []}

    def refuse_cookies(route, request):
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        if "cookie" in {k.lower() for k in headers}:
            seen["cookie_sent"].append(request.url)
        seen["urls"].append(request.url)
        # Fetched outside the browser (route.fetch would share the context's cookie jar), answered without
        # Set-Cookie: the browser never sees the cookie.
        answer = requests.request(request.method, request.url, headers=headers, data=request.post_data_buffer,
                                  allow_redirects=False, timeout=60)
        kept = {}
        for name, value in answer.raw.headers.items():
            if name.lower() == "set-cookie":
                seen["stripped"].append(request.url)
            elif name.lower() not in HOP_BY_HOP:
                kept[name] = value
        route.fulfill(status=answer.status_code, headers=kept, body=answer.content)

    # The host page and its frames only: the sign-in popup is another page (a first-party window, cookies as usual).
    page.route(re.compile(re.escape(app_url) + r"/.*"), refuse_cookies)
    page.goto(demo_stack.host_url + "/")
    frame = page.frame_locator("#fullscreen-app")
    frame.get_by_role("button", name="Connect to Procore").wait_for(timeout=15000)
    connect_in_popup(page, frame)

    # Back in the frame: connected on the token alone.
    frame.get_by_text("Welcome to Collections").wait_for(timeout=15000)
    assert app_cookies(page.context, app_url) == []

    # Refresh from Procore: progress, then the numbers.
    frame.get_by_role("button", name="Refresh from Procore").click()
    frame.get_by_text("Refreshing from Procore: project").wait_for(timeout=15000)
    frame.get_by_role("link", name="Refresh finished: show the new numbers").click(timeout=180000)
    frame.locator("#aging-table").wait_for(timeout=15000)
    assert frame.locator("tr.customer").count() > 0

    # Sections switch (htmx), and back.
    frame.get_by_role("link", name=re.compile(r"^Needs a call")).click()
    frame.locator("section.calls").wait_for(timeout=15000)
    frame.get_by_role("link", name=re.compile(r"^Tasks")).click()
    frame.locator("section.tasks").wait_for(timeout=15000)
    frame.get_by_role("link", name=re.compile(r"^Aging")).click()
    frame.locator("#aging-table").wait_for(timeout=15000)

    # Filters and the CSV export (a plain POST form carrying the token in its body).
    frame.get_by_label("Needs a call").check()
    expect(frame.locator("tr.customer .flag").first).to_be_visible(timeout=15000)
    with page.expect_download(timeout=15000) as download_info:
        frame.get_by_role("button", name="Export CSV").click()
    csv_path = download_info.value.path()
    with open(csv_path, encoding="utf-8") as handle:
        assert handle.readline().startswith("Customer")

    # A reload cannot send headers: where the frame may use sessionStorage (Safari partitions it), app.js finds
    # its token there and loads the page again; where the browser denies it storage too (this Chromium does for
    # a frame of another site), the reload lands on the connect page and connecting again works.
    storage = "() => { try { return !!window.sessionStorage.getItem('collections.sessionToken'); } " \
              "catch (e) { return false; } }"
    assert page.frame(url=re.compile(r"/collections")).evaluate(storage) is has_storage
    page.reload()
    frame = page.frame_locator("#fullscreen-app")
    if has_storage:
        frame.locator("#aging-table").wait_for(timeout=15000)
    else:
        connect_in_popup(page, frame)
        frame.locator("#aging-table").wait_for(timeout=15000)

    assert app_cookies(page.context, app_url) == []
    assert seen["stripped"], "the app offered no cookie: the test would prove nothing"
    assert seen["cookie_sent"] == []
    tokens = set(page.frame_locator("#fullscreen-app").locator("body").evaluate_all(
        "els => els.map(b => JSON.parse(b.getAttribute('hx-headers'))['X-Session-Token'])"))
    assert all(tokens) and tokens
    for url in seen["urls"]:
        assert "session_token" not in url and "session-token" not in url.lower()
        assert not any(token in url for token in tokens), url
    assert f"company_id={SUMMIT}" in page.frame(url=re.compile(r"/collections")).url
    errors = page.console_errors  # type: ignore[attr-defined]
    assert not errors, "\n".join(errors)
