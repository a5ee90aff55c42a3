"""``python -m embedded_app sync|aging`` against the stand-in (in-process ``main`` and one real subprocess)."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from embedded_app import cli
from embedded_app.engine import compute
from embedded_app.store import cache, open_db
from tests.fixtures.procore import COMPANY_A, COMPANY_B, SERVICE_CLIENT_ID, SERVICE_CLIENT_SECRET

ROOT = Path(__file__).resolve().parents[1]


def env_for(running: Any, database: str, **overrides: str) -> dict[str, str]:
    env = {
        "PROCORE_API_URL": running.url,
        "PROCORE_LOGIN_URL": running.url,
        "PROCORE_CLIENT_ID": SERVICE_CLIENT_ID,
        "PROCORE_CLIENT_SECRET": SERVICE_CLIENT_SECRET,
        "DATABASE": database,
        "SECRET_KEY": "cli-test-secret",
    }
    env.update(overrides)
    return env


def run_main(argv: list[str], env: dict[str, str], capsys: Any) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(argv, environ=env, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_sync_fills_the_cache_with_a_progress_bar(make_sandbox, small_dataset, tmp_path, capsys):
    running = make_sandbox(small_dataset, spike_limit=10**6)
    database = str(tmp_path / "c.sqlite")
    code, out, err = run_main(["sync", "--company-id", str(COMPANY_A)], env_for(running, database), capsys)
    assert code == 0, err
    assert out == ""
    assert "project 4/4" in err and f"synced company {COMPANY_A}: 4 projects" in err
    db = open_db(database)
    assert cache.has_cached_data(db, COMPANY_A) and not cache.has_cached_data(db, COMPANY_B)
    # the service token is cached encrypted, never in clear
    row = db.execute("select owner, access_token_enc from oauth_tokens").fetchone()
    assert row[0] == f"service:{SERVICE_CLIENT_ID}" and row[1].startswith("gAAAA")
    db.conn.close()
    code, _out, err = run_main(["sync", "--company-id", str(COMPANY_A), "--full"], env_for(running, database), capsys)
    assert code == 0 and "(full)" in err


def test_aging_json_matches_the_engine_over_procore_data(fast_sandbox, tmp_path, capsys):
    database = str(tmp_path / "a.sqlite")
    argv = ["aging", "--company-id", str(COMPANY_A), "--as-of", "2026-11-30", "--json"]
    code, out, err = run_main(argv, env_for(fast_sandbox, database), capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["company_id"] == COMPANY_A and report["as_of"] == "2026-11-30"
    # The cache must reproduce Procore's data faithfully: the engine over the stand-in's own records gives the
    # same totals as the engine over what the sync cached.
    data = fast_sandbox.state.dataset
    projects = {p["id"] for p in data["projects"] if p["company_id"] == COMPANY_A}
    contracts = {c["id"] for c in data["prime_contracts"] if c["project_id"] in projects}
    direct = compute(
        {
            "projects": [p for p in data["projects"] if p["id"] in projects],
            "vendors": [v for v in data["vendors"] if v["company_id"] == COMPANY_A],
            "prime_contracts": [c for c in data["prime_contracts"] if c["id"] in contracts],
            "payment_applications": [a for a in data["payment_applications"] if a["project_id"] in projects],
            "contract_payments": [p for p in data["contract_payments"] if p["contract_id"] in contracts],
        },
        date(2026, 11, 30),
        company_id=COMPANY_A,
    ).to_json()
    assert report["totals"] == direct["totals"]
    assert len(report["customers"]) == len(direct["customers"])
    # second run: the cache is there, no sync
    requests_before = fast_sandbox.state.request_count
    code, out2, _ = run_main([*argv, "--no-sync"], env_for(fast_sandbox, database), capsys)
    assert code == 0 and json.loads(out2)["totals"] == report["totals"]
    assert fast_sandbox.state.request_count == requests_before


def test_aging_no_sync_on_an_empty_cache(sandbox, tmp_path, capsys):
    argv = ["aging", "--company-id", str(COMPANY_A), "--as-of", "2026-11-30", "--json", "--no-sync"]
    code, out, err = run_main(argv, env_for(sandbox, str(tmp_path / "e.sqlite")), capsys)
    assert code == cli.EXIT_COMPANY and out == ""
    assert err.count("\n") == 1 and "nothing cached" in err


def test_wrong_credentials(sandbox, tmp_path, capsys):
    env = env_for(sandbox, str(tmp_path / "w.sqlite"), PROCORE_CLIENT_SECRET="not-the-secret")
    code, out, err = run_main(["sync", "--company-id", str(COMPANY_A)], env, capsys)
    assert code == cli.EXIT_AUTH
    assert err.count("\n") == 1 and "credentials" in err and "not-the-secret" not in err
    assert "Traceback" not in err


def test_unknown_company(sandbox, tmp_path, capsys):
    code, _out, err = run_main(["sync", "--company-id", "777"], env_for(sandbox, str(tmp_path / "u.sqlite")), capsys)
    assert code == cli.EXIT_COMPANY
    assert err.count("\n") == 1 and "company 777 is unknown" in err


def test_procore_unreachable(tmp_path, capsys):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    class Down:
        url = f"http://127.0.0.1:{port}"

    code, _out, err = run_main(["sync", "--company-id", "1"], env_for(Down, str(tmp_path / "d.sqlite")), capsys)
    assert code == cli.EXIT_UNREACHABLE
    assert err.count("\n") == 1 and "unreachable" in err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["aging", "--company-id", "x"], environ={})
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        cli.main(["aging", "--company-id", "1", "--as-of", "30/11/2026"], environ={})
    assert info.value.code == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        cli.main(["aging", "--company-id", "1", "--as-of", "9999-12-31"], environ={})
    assert info.value.code == 2
    assert "out of range" in capsys.readouterr().err


def test_callable_from_code(make_sandbox, small_dataset, service_settings):
    running = make_sandbox(small_dataset, spike_limit=10**6)
    settings = service_settings(running)
    err, out = io.StringIO(), io.StringIO()
    assert cli.cmd_sync(COMPANY_A, settings=settings, stderr=err, quiet=True) == 0
    assert err.getvalue() == ""
    assert cli.cmd_aging(COMPANY_A, date(2026, 11, 30), sync=False, settings=settings, stdout=out) == 0
    assert json.loads(out.getvalue())["company_id"] == COMPANY_A


def test_python_dash_m_in_a_subprocess(make_sandbox, small_dataset, tmp_path):
    running = make_sandbox(small_dataset, spike_limit=10**6)
    env = {**os.environ, **env_for(running, str(tmp_path / "s.sqlite"))}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "embedded_app",
            "aging",
            "--company-id",
            str(COMPANY_A),
            "--as-of",
            "2026-11-30",
            "--json",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["company_id"] == COMPANY_A
    bad = subprocess.run(
        [sys.executable, "-m", "embedded_app", "sync", "--company-id", "777"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == cli.EXIT_COMPANY and bad.stderr.startswith("error: company 777")
