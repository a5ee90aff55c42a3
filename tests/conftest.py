"""Shared fixtures. Each area keeps its fixtures in tests/fixtures/<area>.py, registered here."""

from __future__ import annotations

import pytest

from embedded_app import create_app

pytest_plugins = [
    "tests.fixtures.sandbox",
    "tests.fixtures.procore",
    "tests.fixtures.engine",
    "tests.fixtures.mail",
    "tests.fixtures.browser",
    "tests.fixtures.webapp",
]


@pytest.fixture
def app(tmp_path):
    app = create_app({"TESTING": True, "DATABASE": str(tmp_path / "app.sqlite"), "SECRET_KEY": "test-secret"})
    yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()
