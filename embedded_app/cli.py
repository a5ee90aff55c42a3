"""Command line: ``python -m embedded_app sync|aging|outbox|promises`` (a stable interface for scripts).

Both commands authenticate as the service account (client credentials) from ``PROCORE_CLIENT_ID`` /
``PROCORE_CLIENT_SECRET`` against ``PROCORE_LOGIN_URL`` / ``PROCORE_API_URL``, and use the SQLite file in
``DATABASE``. Errors are one line on stderr with a non-zero exit status:

- 2: usage errors (argparse), 3: wrong credentials / reconnect required, 4: unknown company or no access,
  5: Procore unreachable, 6: rate limit exhausted, 1: anything else.

The ``cmd_*`` functions take parsed values and return an exit code, so jobs can call them without a shell.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, TextIO

from . import config as config_module
from .procore import auth
from .procore.client import ProcoreClient
from .procore.errors import (
    ConnectionFailed,
    Forbidden,
    NotFound,
    OAuthError,
    ProcoreError,
    RateLimited,
    ReconnectRequired,
    Unauthorized,
)
from .store import Database, cache, open_db

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_AUTH, EXIT_COMPANY, EXIT_UNREACHABLE, EXIT_RATE = 0, 1, 2, 3, 4, 5, 6


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


def service_client(
    settings: Mapping[str, Any], db: Database | None = None, company_id: int | None = None, **kwargs: Any
) -> ProcoreClient:
    """A REST client authenticated as the service account (token cached encrypted in ``db`` when given)."""
    oauth = auth.ProcoreOAuth.from_config(settings)
    store = None
    secret = settings.get("TOKEN_ENCRYPTION_KEY") or settings.get("SECRET_KEY")
    if db is not None and secret:
        store = auth.token_store(db, secret)
    provider = auth.ServiceAccountProvider(oauth, store)
    return ProcoreClient(settings["PROCORE_API_URL"], provider, company_id=company_id, **kwargs)


def _report(exc: BaseException, settings: Mapping[str, Any], company_id: int | None, err: TextIO) -> int:
    """Write the one-line explanation of ``exc`` and return its exit code (Ctrl-C is re-raised)."""
    if isinstance(exc, KeyboardInterrupt):
        raise exc
    problem = _explain(exc, settings, company_id)
    err.write(str(problem) + "\n")
    return problem.code


def _explain(exc: BaseException, settings: Mapping[str, Any], company_id: int | None) -> CliError:
    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, OAuthError):
        if exc.error in ("invalid_client", "unauthorized_client") or exc.status == 401:
            return CliError(
                "error: Procore rejected the service-account credentials (check PROCORE_CLIENT_ID and "
                "PROCORE_CLIENT_SECRET)",
                EXIT_AUTH,
            )
        return CliError(f"error: Procore's login server refused the request: {exc}", EXIT_AUTH)
    if isinstance(exc, ReconnectRequired | Unauthorized):
        return CliError("error: Procore rejected the service-account token; check the credentials", EXIT_AUTH)
    if isinstance(exc, ConnectionFailed):
        return CliError(
            f"error: Procore is unreachable at {settings.get('PROCORE_API_URL')} / "
            f"{settings.get('PROCORE_LOGIN_URL')} (check PROCORE_API_URL, PROCORE_LOGIN_URL and the network)",
            EXIT_UNREACHABLE,
        )
    if isinstance(exc, Forbidden | NotFound):
        return CliError(
            f"error: company {company_id} is unknown or the app is not installed there for this service "
            f"account ({exc})",
            EXIT_COMPANY,
        )
    if isinstance(exc, RateLimited):
        return CliError(f"error: {exc}", EXIT_RATE)
    if isinstance(exc, ProcoreError):
        return CliError(f"error: {exc}", EXIT_ERROR)
    return CliError(f"error: {type(exc).__name__}: {exc}", EXIT_ERROR)


def check_company(client: ProcoreClient, company_id: int) -> dict[str, Any]:
    """The company must be one the service account can see (``/companies``)."""
    for company in client.companies():
        if int(company.get("id", -1)) == company_id:
            return company
    raise CliError(
        f"error: company {company_id} is unknown or the app is not installed there for this service account",
        EXIT_COMPANY,
    )


class ProgressBar:
    """A one-line progress bar on a terminal; plain lines when stderr is not a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self._last: tuple[str, int] | None = None

    def __call__(self, p: Any) -> None:
        budget = "" if p.rate_limit_remaining is None else f", budget left {p.rate_limit_remaining}"
        if p.project_count:
            width = 24
            done = int(width * max(0, p.project_index - (0 if p.phase in ("vendors", "done") else 1)) / p.project_count)
            bar = "#" * done + "-" * (width - done)
            line = f"[{bar}] project {p.project_index}/{p.project_count} · {p.requests} requests{budget}"
        else:
            line = f"{p.message} · {p.requests} requests{budget}"
        if p.phase in ("done", "failed"):
            line = f"{p.message}{budget}"
        if self.tty:
            self.stream.write("\r\033[K" + line + ("\n" if p.phase in ("done", "failed") else ""))
            self.stream.flush()
        elif p.phase in ("project", "vendors", "done", "failed") and (p.phase, p.project_index) != self._last:
            self._last = (p.phase, p.project_index)
            self.stream.write(line + "\n")
            self.stream.flush()


def cmd_sync(
    company_id: int,
    *,
    full: bool = False,
    settings: Mapping[str, Any] | None = None,
    stderr: TextIO | None = None,
    quiet: bool = False,
) -> int:
    """Sync one company into the cache as the service account. Returns the exit code."""
    from .sync import run_sync

    settings = settings or config_module.from_env()
    err = stderr or sys.stderr
    try:
        db = open_db(settings["DATABASE"])
        try:
            with service_client(settings, db, company_id=company_id) as client:
                check_company(client, company_id)
                result = run_sync(db, client, company_id, full=full, progress=None if quiet else ProgressBar(err))
                from . import worklog

                worklog.after_sync(db, client, company_id)  # re-evaluate promises, write queued work-log entries
        finally:
            db.conn.close()
    except BaseException as exc:  # everything becomes one clear line
        return _report(exc, settings, company_id, err)
    if not quiet:
        err.write(
            f"synced company {company_id}: {result.projects} projects, {result.requests} requests, "
            f"{result.count_429} rate-limited, {result.seconds:.1f} s ({'full' if result.full else 'refresh'})\n"
        )
    return EXIT_OK


def cmd_aging(
    company_id: int,
    as_of: date,
    *,
    sync: bool = True,
    policy: Any = None,
    settings: Mapping[str, Any] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Print the aging JSON for one company (syncing first when the cache is empty and ``sync`` is true)."""
    settings = settings or config_module.from_env()
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        db = open_db(settings["DATABASE"])
        try:
            if not cache.has_cached_data(db, company_id):
                if not sync:
                    raise CliError(
                        f"error: nothing cached for company {company_id}; run `python -m embedded_app sync "
                        f"--company-id {company_id}` first (or drop --no-sync)",
                        EXIT_COMPANY,
                    )
                from .sync import run_sync

                with service_client(settings, db, company_id=company_id) as client:
                    check_company(client, company_id)
                    run_sync(db, client, company_id, progress=ProgressBar(err))
            # The same service the Collections tab uses (engine over the cache plus recorded work state), so
            # the CLI's totals match the screen to the cent.
            from .collections import build_report

            result = build_report(db, company_id, as_of=as_of, policy=policy)
        finally:
            db.conn.close()
        text = result.to_json()
    except BaseException as exc:  # everything becomes one clear line
        return _report(exc, settings, company_id, err)
    if not isinstance(text, str):
        text = json.dumps(text, indent=2)
    out.write(text if text.endswith("\n") else text + "\n")
    return EXIT_OK


def cmd_outbox(
    company_id: int,
    *,
    deliver: bool = False,
    reconcile: bool = False,
    settings: Mapping[str, Any] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Settle interrupted sends (``reconcile``) and/or send the company's queued emails (``deliver``), logging
    each sent one to Procore's Collections Log as the service account. Never resends an uncertain email."""
    from . import outbox, outreach
    from .crypto import SecretBox

    settings = settings or config_module.from_env()
    out, err = stdout or sys.stdout, stderr or sys.stderr
    status = EXIT_OK
    try:
        db = open_db(settings["DATABASE"])
        try:
            if reconcile:
                counts = outbox.reconcile(db)
                out.write(f"reconciled: {counts['failed']} failed (safe to retry), {counts['uncertain']} uncertain "
                          "(a person confirms them in Ready to send)\n")
            if deliver:
                box = SecretBox(settings.get("TOKEN_ENCRYPTION_KEY") or settings.get("SECRET_KEY") or "")
                hook = outreach.collections_log_hook(
                    db, company_id, lambda: service_client(settings, db, company_id=company_id))
                try:
                    rows = outreach.deliver_queued(db, company_id, box, hook)
                except outbox.SendRefused as exc:
                    raise CliError(f"error: nothing sent: {'; '.join(exc.reasons)}", EXIT_ERROR) from exc
                for row in rows:
                    line = f"outbox {row['id']}: {row['status']} {row['message_id']}"
                    if row["status"] == "sent" and row.get("writeback_status") == "failed":
                        line += f" (not logged in Procore: {row.get('writeback_error')})"
                    elif row["status"] != "sent":
                        line += f" ({row.get('last_error')})"
                        status = EXIT_ERROR
                    out.write(line + "\n")
                out.write(f"delivered {sum(r['status'] == 'sent' for r in rows)} of {len(rows)} queued emails\n")
        finally:
            db.conn.close()
    except BaseException as exc:  # everything becomes one clear line
        return _report(exc, settings, company_id, err)
    return status


def cmd_promises(
    company_id: int,
    *,
    retry: bool = False,
    as_of: date | None = None,
    settings: Mapping[str, Any] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Re-evaluate the company's promises-to-pay on ``as_of`` (default today) and list every logged promise, call
    and dispute with its Procore sync state; ``retry`` first writes queued entries to Procore (service account).
    Exit 1 when entries are still pending sync afterwards."""
    from . import worklog
    from .store import worklog as worklog_store

    settings = settings or config_module.from_env()
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        db = open_db(settings["DATABASE"])
        try:
            watched = worklog.watch(db, company_id, on=as_of)
            if retry:
                with service_client(settings, db, company_id=company_id) as client:
                    check_company(client, company_id)
                    summary = worklog.retry_pending(db, client, company_id, on=as_of)
                out.write(f"written to Procore: {summary.synced}, still pending: {summary.failed}\n")
                for problem in summary.errors:
                    out.write(f"  {problem}\n")
            for e in reversed(worklog_store.list_entries(db, company_id)):
                what = {"promise": f"promise {e['amount']} by {e['promised_date']} "
                                   f"({e.get('evaluated_status') or 'pending'})",
                        "call": f"call: {e.get('outcome')}", "dispute": f"dispute on pay app {e.get('pay_app_id')} "
                                                                      f"({e.get('status')})"}[e["kind"]]
                state = e["sync_state"] + (f" as item {e['procore_item_id']}" if e.get("procore_item_id") else "")
                out.write(f"{e['id']}: {e['created_on']} {e.get('customer_name')}: {what} · {state}\n")
            pending = worklog.pending_count(db, company_id)
            out.write(f"{watched.changed} promise outcomes changed; {pending} entries pending sync\n")
        finally:
            db.conn.close()
    except BaseException as exc:  # everything becomes one clear line
        return _report(exc, settings, company_id, err)
    return EXIT_ERROR if pending else EXIT_OK


def _date(value: str) -> date:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None
    if not 1900 <= day.year <= 2999:
        raise argparse.ArgumentTypeError(f"as-of date out of range (years 1900-2999): {value!r}")
    return day


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {value!r}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m embedded_app",
        description="Receivables collections for Procore: sync the cache and print the aging.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p_sync = sub.add_parser("sync", help="sync one company's receivables from Procore into the cache")
    p_sync.add_argument("--company-id", type=_positive_int, required=True, help="Procore company id")
    p_sync.add_argument("--full", action="store_true", help="list everything again and drop deleted records")
    p_sync.add_argument("--quiet", action="store_true", help="no progress bar")
    p_aging = sub.add_parser("aging", help="print the receivables aging of one company")
    p_aging.add_argument("--company-id", type=_positive_int, required=True, help="Procore company id")
    p_aging.add_argument("--as-of", type=_date, default=date.today(), help="aging date, YYYY-MM-DD (default today)")
    p_aging.add_argument("--json", action="store_true", help="print JSON (the only format for now)")
    p_aging.add_argument("--no-sync", action="store_true", help="never sync, even when the cache is empty")
    p_outbox = sub.add_parser("outbox", help="settle interrupted sends and send queued reminder emails")
    p_outbox.add_argument("--company-id", type=_positive_int, required=True, help="Procore company id")
    p_outbox.add_argument("--deliver", action="store_true", help="send the company's queued emails (exactly once)")
    p_outbox.add_argument("--reconcile", action="store_true",
                          help="settle emails a crashed process left in 'sending' (never resends)")
    p_promises = sub.add_parser("promises", help="re-evaluate promises-to-pay and list the work log's sync state")
    p_promises.add_argument("--company-id", type=_positive_int, required=True, help="Procore company id")
    p_promises.add_argument("--retry", action="store_true", help="write entries pending sync to Procore now")
    p_promises.add_argument("--as-of", type=_date, default=None, help="evaluate on this date (default today)")
    return parser


def main(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Entry point of ``python -m embedded_app``; returns the exit status (argparse exits 2 on usage errors)."""
    args = build_parser().parse_args(argv)
    settings = config_module.from_env(dict(environ) if environ is not None else None)
    if args.command == "sync":
        return cmd_sync(args.company_id, full=args.full, settings=settings, quiet=args.quiet, stderr=stderr)
    if args.command == "aging":
        return cmd_aging(
            args.company_id, args.as_of, sync=not args.no_sync, settings=settings, stdout=stdout, stderr=stderr
        )
    if args.command == "outbox":
        if not (args.deliver or args.reconcile):
            build_parser().error("outbox: pass --deliver and/or --reconcile")
        return cmd_outbox(args.company_id, deliver=args.deliver, reconcile=args.reconcile, settings=settings,
                          stdout=stdout, stderr=stderr)
    if args.command == "promises":
        return cmd_promises(args.company_id, retry=args.retry, as_of=args.as_of, settings=settings, stdout=stdout,
                            stderr=stderr)
    return EXIT_USAGE  # pragma: no cover - argparse enforces the commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
