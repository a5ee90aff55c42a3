"""Requests a receivables sync costs, against the Procore stand-in over real HTTP.

    .venv/bin/python benchmarks/sync.py                 # built-in seed and 10x seed, default rate budget
    .venv/bin/python benchmarks/sync.py --scales 1      # only the built-in seed
    .venv/bin/python benchmarks/sync.py --spike-limit 100000   # don't wait for the spike window (faster)

For each dataset it syncs every company as the service account three times — cold (empty cache), warm with no
changes, and warm after 1 % of the prime contracts, payment applications, contract payments and vendors changed
(``touch``) — counting requests with the stand-in's own counter, and prints a markdown table next to:

- **lower bound**: Σ ceil(records / max per_page) per resource and project (projects and vendors per company;
  prime contracts, payment applications and contract payments per project) — what an ideal API would cost;
- **API floor**: what Procore's API shape forces on a cold sync — every list once per scope (an empty list is
  still one request), plus one prime-contract *show* per contract, because ``payment_terms`` (needed for due
  dates) is only on the show; the show also carries ``payments_received``, so payments cost nothing extra cold;
- **warm units**: 1 request per project and resource (3 per project) plus projects and vendors per company — the
  warm-sync goal.

Counters and rate-limit windows are reset before each scenario (the stand-in's ``reset_counters``), so each
scenario gets the default budget (3,600/h, 100 per 10 s) on its own.
"""

from __future__ import annotations

import argparse
import logging
import math
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from embedded_app.devserver import serve  # noqa: E402
from embedded_app.procore import auth  # noqa: E402
from embedded_app.procore.client import ProcoreClient, RateLimit  # noqa: E402
from embedded_app.sandbox.app import MAX_PER_PAGE, create_sandbox_app  # noqa: E402
from embedded_app.sandbox.seed import build_seed  # noqa: E402
from embedded_app.store import open_db  # noqa: E402
from embedded_app.sync import run_sync  # noqa: E402

SERVICE = ("demo-service-account", "demo-service-secret")


def bounds(dataset: dict[str, Any], company_ids: list[int], per_page: int) -> dict[str, int]:
    pages = lambda n: math.ceil(n / per_page)  # noqa: E731
    floor_pages = lambda n: max(1, pages(n))  # noqa: E731
    projects = [p for p in dataset["projects"] if p["company_id"] in company_ids]
    project_ids = {p["id"] for p in projects}
    contracts = [c for c in dataset["prime_contracts"] if c["project_id"] in project_ids]
    contract_project = {c["id"]: c["project_id"] for c in contracts}
    pc = Counter(c["project_id"] for c in contracts)
    pa = Counter(a["project_id"] for a in dataset["payment_applications"] if a["project_id"] in project_ids)
    cp = Counter(contract_project[p["contract_id"]] for p in dataset["contract_payments"]
                 if p["contract_id"] in contract_project)
    vendors = Counter(v["company_id"] for v in dataset["vendors"] if v["company_id"] in company_ids)
    per_company = Counter(p["company_id"] for p in projects)
    lower = sum(pages(per_company[c]) + pages(vendors[c]) for c in company_ids)
    lower += sum(pages(pc[p]) + pages(pa[p]) + pages(cp[p]) for p in project_ids)
    floor = sum(floor_pages(per_company[c]) + floor_pages(vendors[c]) for c in company_ids)
    floor += sum(floor_pages(pc[p]) + floor_pages(pa[p]) for p in project_ids) + len(contracts)
    units = 2 * len(company_ids) + 3 * len(project_ids)
    return {"lower": lower, "floor": floor, "units": units, "projects": len(project_ids),
            "contracts": len(contracts)}


def touch_one_percent(state: Any, company_ids: list[int], rng: random.Random) -> int:
    project_ids = {p["id"] for p in state.dataset["projects"] if p["company_id"] in company_ids}
    touched = 0
    for key in ("prime_contracts", "payment_applications", "contract_payments", "vendors"):
        if key == "vendors":
            ids = [r["id"] for r in state.dataset[key] if r["company_id"] in company_ids]
        elif key == "contract_payments":
            contracts = {c["id"] for c in state.dataset["prime_contracts"] if c["project_id"] in project_ids}
            ids = [r["id"] for r in state.dataset[key] if r["contract_id"] in contracts]
        else:
            ids = [r["id"] for r in state.dataset[key] if r["project_id"] in project_ids]
        chosen = rng.sample(ids, max(1, round(len(ids) / 100)))
        touched += state.touch(key, chosen)
    return touched


def run_dataset(label: str, dataset: dict[str, Any], *, hourly_limit: int, spike_limit: int,
                spike_window: float) -> list[dict[str, Any]]:
    company_ids = sorted(c["id"] for c in dataset["companies"])
    b = bounds(dataset, company_ids, MAX_PER_PAGE)
    app = create_sandbox_app(dataset, hourly_limit=hourly_limit, spike_limit=spike_limit,
                             spike_window=spike_window)
    state = app.extensions["sandbox"]
    server = serve(app)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        db = open_db(str(Path(tmp) / "bench.sqlite"))
        oauth = auth.ProcoreOAuth(server.url, *SERVICE)
        provider = auth.ServiceAccountProvider(oauth)
        clients = {cid: ProcoreClient(server.url, provider, company_id=cid) for cid in company_ids}
        rng = random.Random(20261130)
        for scenario in ("cold", "warm, no change", "warm, 1 % changed"):
            touched = touch_one_percent(state, company_ids, rng) if "1 %" in scenario else 0
            time.sleep(1.1)  # touched records get a later second than the previous sync's cursor
            state.reset_counters()
            for client in clients.values():
                client.rate_limit = RateLimit()  # the stand-in's windows were reset too
            started = time.monotonic()
            shows = 0
            for cid, client in clients.items():
                result = run_sync(db, client, cid)
                shows += result.count("prime_contract_show").requests
            rows.append({
                "dataset": label, "scenario": scenario, "requests": state.request_count,
                "lower": b["lower"], "floor": b["floor"], "units": b["units"], "projects": b["projects"],
                "contracts": b["contracts"], "shows": shows, "count_429": state.count_429,
                "seconds": time.monotonic() - started, "touched": touched,
            })
            print(f"  {label}: {scenario}: {state.request_count} requests, {state.count_429} 429s, "
                  f"{rows[-1]['seconds']:.1f} s", file=sys.stderr)
        for client in clients.values():
            client.close()
        db.conn.close()
    server.stop()
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| dataset | scenario | requests | lower bound | × lower bound | API floor | × API floor "
        "| per project·resource | 429s | time |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['scenario']} | {r['requests']:,} | {r['lower']:,} "
            f"| {r['requests'] / r['lower']:.2f} | {r['floor']:,} | {r['requests'] / r['floor']:.2f} "
            f"| {r['requests'] / r['units']:.2f} | {r['count_429']} | {r['seconds']:.0f} s |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scales", default="1,10", help="seed scales, comma separated (default 1,10)")
    parser.add_argument("--hourly-limit", type=int, default=3600)
    parser.add_argument("--spike-limit", type=int, default=100)
    parser.add_argument("--spike-window", type=float, default=10.0)
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log per request
    rows: list[dict[str, Any]] = []
    for scale in [int(s) for s in args.scales.split(",") if s.strip()]:
        dataset = build_seed() if scale == 1 else build_seed(scale=scale)
        label = "built-in seed" if scale == 1 else f"seed × {scale}"
        counts = {k: len(dataset[k]) for k in ("projects", "prime_contracts", "payment_applications",
                                               "contract_payments", "vendors")}
        print(f"{label}: {counts}", file=sys.stderr)
        rows += run_dataset(label, dataset, hourly_limit=args.hourly_limit, spike_limit=args.spike_limit,
                            spike_window=args.spike_window)
    print(f"Budget: {args.hourly_limit}/h and {args.spike_limit} per {args.spike_window:g} s; "
          f"max per_page {MAX_PER_PAGE}.\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
