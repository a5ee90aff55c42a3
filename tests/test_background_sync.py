"""Background syncs: one per company and database; two databases (two tenants' stores) never share a run."""

from __future__ import annotations

from embedded_app import sync
from embedded_app.procore.client import ProcoreClient
from embedded_app.store import open_db
from embedded_app.store.cache import has_cached_data

COMPANY = 10001


def test_one_run_per_company_and_database(make_sandbox, tmp_path):
    standin = make_sandbox(spike_limit=5000, hourly_limit=100000)
    token = standin.token("demo-service-account")["access_token"]
    paths = [str(tmp_path / "a.sqlite"), str(tmp_path / "b.sqlite")]

    def start(path: str) -> str:
        return sync.start_background_sync(
            lambda: open_db(path), lambda: ProcoreClient(standin.url, token, company_id=COMPANY), COMPANY)

    first_a = start(paths[0])
    again_a = start(paths[0])
    first_b = start(paths[1])
    sync.wait_for_background_sync(COMPANY, 120)
    assert again_a == first_a  # a double click on Refresh joins the running sync
    assert first_b != first_a  # another database gets its own sync instead of someone else's run id
    for path, run_id in ((paths[0], first_a), (paths[1], first_b)):
        db = open_db(path)
        assert sync.sync_status(db, run_id, COMPANY)["status"] == "succeeded"
        assert has_cached_data(db, COMPANY)
