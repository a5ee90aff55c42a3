"""The stand-in's dataset file format: loading and validation (documented in ``docs/sandbox-dataset.md``).

A dataset is one JSON object whose keys (``DATASET_KEYS``) each hold a list of records in the shape the Procore
API returns, plus the parent ids the API takes as parameters. Unknown top-level keys and unknown record fields
are ignored (kept on records, served as-is). A malformed dataset raises :class:`DatasetError` whose message
names the list, the record's index and id, and the field.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

__all__ = [
    "CONTRACT_STATUSES",
    "DATASET_KEYS",
    "PAY_APP_STATUSES",
    "DatasetError",
    "load_dataset",
    "parse_timestamp",
    "validate_dataset",
]

DATASET_KEYS: tuple[str, ...] = (
    "companies",
    "projects",
    "vendors",
    "users",
    "prime_contracts",
    "payment_applications",
    "contract_payments",
    "custom_field_definitions",
    "generic_tools",
    "oauth_clients",
)
PAY_APP_STATUSES = ("draft", "under_review", "revise_and_resubmit", "approved")
CONTRACT_STATUSES = ("Draft", "Out For Bid", "Out For Signature", "Approved", "Complete", "Terminated", "Void")
CUSTOM_FIELD_TYPES = ("string", "rich_text", "date", "decimal", "boolean", "lov_entry", "lov_entries", "login")
G702_FIELDS = (
    "original_contract_sum", "net_change_by_change_orders", "contract_sum_to_date",
    "total_completed_and_stored_to_date", "completed_work_retainage_percent", "completed_work_retainage_amount",
    "stored_materials_retainage_percent", "stored_materials_retainage_amount", "total_retainage",
    "total_earned_less_retainage", "less_previous_certificates_for_payment", "current_payment_due",
    "balance_to_finish_including_retainage", "tax_applicable_to_this_payment",
)


class DatasetError(ValueError):
    """A dataset file or object that does not follow ``docs/sandbox-dataset.md``."""


def parse_timestamp(value: str) -> datetime:
    """ISO 8601 timestamp ("2026-11-30T17:04:11Z", offsets allowed) or date ("2026-11-30", midnight UTC)."""
    text = value.strip()
    if len(text) == 10:
        text += "T00:00:00"
    if len(text) > 19 and text[-6] == " ":  # "+01:00" that arrived through a query string as " 01:00"
        text = text[:-6] + "+" + text[-5:]
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


class _Checker:
    def __init__(self, key: str, index: int, record: dict[str, Any]) -> None:
        self.key = key
        self.index = index
        self.record = record

    def fail(self, field: str, problem: str) -> DatasetError:
        rid = self.record.get("id", self.record.get("client_id"))
        where = f"{self.key}[{self.index}]" + (f" (id {rid!r})" if rid is not None else "")
        return DatasetError(f"{where}: field {field!r}: {problem}")

    def get(self, field: str) -> Any:
        value: Any = self.record
        for part in field.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value

    def require(self, field: str) -> Any:
        value = self.get(field)
        if value is None:
            raise self.fail(field, "is required")
        return value

    def integer(self, field: str, *, required: bool = True) -> int | None:
        value = self.get(field)
        if value is None:
            if required:
                raise self.fail(field, "is required (an integer)")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(field, f"must be an integer, got {value!r}")
        return value

    def string(self, field: str, *, required: bool = False) -> str | None:
        value = self.get(field)
        if value is None:
            if required:
                raise self.fail(field, "is required (a string)")
            return None
        if not isinstance(value, str):
            raise self.fail(field, f"must be a string, got {value!r}")
        return value

    def amount(self, field: str, *, required: bool = False) -> None:
        value = self.get(field)
        if value is None:
            if required:
                raise self.fail(field, "is required (a decimal amount such as \"1250.00\")")
            return
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(field, f"must be a decimal amount string such as \"1250.00\", got {value!r}")
        try:
            Decimal(str(value))
        except InvalidOperation:
            raise self.fail(field, f"must be a decimal amount string such as \"1250.00\", got {value!r}") from None

    def day(self, field: str, *, required: bool = False) -> None:
        value = self.get(field)
        if value is None or value == "":
            if required:
                raise self.fail(field, "is required (a date YYYY-MM-DD)")
            return
        try:
            if not isinstance(value, str):
                raise ValueError(value)
            date.fromisoformat(value)
        except ValueError:
            raise self.fail(field, f"must be a date YYYY-MM-DD, got {value!r}") from None

    def timestamp(self, field: str) -> None:
        value = self.get(field)
        if value is None:
            return
        try:
            if not isinstance(value, str):
                raise ValueError
            parse_timestamp(value)
        except ValueError:
            example = "2026-11-30T17:04:11Z"
            raise self.fail(field, f"must be an ISO 8601 timestamp such as {example!r}, got {value!r}") from None

    def one_of(self, field: str, allowed: tuple[str, ...], *, required: bool = True) -> None:
        value = self.get(field)
        if value is None and not required:
            return
        if value not in allowed:
            raise self.fail(field, f"must be one of {', '.join(allowed)}; got {value!r}")

    def reference(self, field: str, known: dict[int, dict[str, Any]], what: str, *, required: bool = True) -> int:
        value = self.integer(field, required=required)
        if value is None:
            return 0
        if value not in known:
            raise self.fail(field, f"refers to {what} {value}, which is not in the dataset")
        return value


def _records(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = data.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list):
        raise DatasetError(f"{key}: must be a list of records, got {type(value).__name__}")
    for index, record in enumerate(value):
        if not isinstance(record, dict):
            raise DatasetError(f"{key}[{index}]: must be an object, got {type(record).__name__}")
    return value


def _index(key: str, records: list[dict[str, Any]], extra: Callable[[_Checker], None] | None = None,
           ) -> dict[int, dict[str, Any]]:
    seen: dict[int, dict[str, Any]] = {}
    for index, record in enumerate(records):
        check = _Checker(key, index, record)
        rid = check.integer("id")
        assert rid is not None
        if rid in seen:
            raise check.fail("id", f"duplicate id {rid} (ids must be unique within {key})")
        check.timestamp("created_at")
        check.timestamp("updated_at")
        if extra:
            extra(check)
        seen[rid] = record
    return seen


def validate_dataset(data: dict[str, Any]) -> dict[str, Any]:
    """Check ``data`` against the dataset format and return it normalised: every key of ``DATASET_KEYS``
    present (missing ones as empty lists), unknown top-level keys dropped. Records are not copied.

    Raises :class:`DatasetError` naming the record (list, index, id) and field on the first problem found.
    """
    if not isinstance(data, dict):
        raise DatasetError(f"dataset: must be a JSON object with keys {', '.join(DATASET_KEYS)}")
    lists = {key: _records(data, key) for key in DATASET_KEYS}

    companies = _index("companies", lists["companies"], lambda c: c.string("name", required=True))

    def user_check(c: _Checker) -> None:
        c.reference("company_id", companies, "company")
        ids = c.get("company_ids")
        if ids is not None:
            if not isinstance(ids, list):
                raise c.fail("company_ids", "must be a list of company ids")
            for n, cid in enumerate(ids):
                if isinstance(cid, bool) or not isinstance(cid, int) or cid not in companies:
                    raise c.fail(f"company_ids[{n}]", f"refers to company {cid!r}, which is not in the dataset")
        c.string("login", required=True)
        c.string("name")

    def company_child(c: _Checker) -> None:
        c.reference("company_id", companies, "company")

    def project_check(c: _Checker) -> None:
        company_child(c)
        c.string("name", required=True)
        c.string("state_code")

    def vendor_check(c: _Checker) -> None:
        company_child(c)
        c.string("name", required=True)
        c.string("email_address")
        contact = c.get("primary_contact")
        if contact is not None and not isinstance(contact, dict):
            raise c.fail("primary_contact", "must be an object or null")

    users = _index("users", lists["users"], user_check)
    projects = _index("projects", lists["projects"], project_check)
    vendors = _index("vendors", lists["vendors"], vendor_check)
    del users

    def definition_check(c: _Checker) -> None:
        company_child(c)
        c.string("label", required=True)
        c.one_of("data_type", CUSTOM_FIELD_TYPES)

    def tool_check(c: _Checker) -> None:
        company_child(c)
        c.string("title", required=True)
        statuses = c.get("statuses")
        if statuses is not None:
            if not isinstance(statuses, list):
                raise c.fail("statuses", "must be a list of {status_name, status}")
            for n, status in enumerate(statuses):
                if not isinstance(status, dict) or not isinstance(status.get("status_name"), str):
                    raise c.fail(f"statuses[{n}].status_name", "is required (a string)")
                if status.get("status") not in ("Open", "Closed", "Draft"):
                    raise c.fail(f"statuses[{n}].status", "must be one of Open, Closed, Draft")

    _index("custom_field_definitions", lists["custom_field_definitions"], definition_check)
    _index("generic_tools", lists["generic_tools"], tool_check)

    def contract_check(c: _Checker) -> None:
        project_id = c.reference("project_id", projects, "project")
        c.one_of("status", CONTRACT_STATUSES, required=False)
        for field in ("grand_total", "approved_change_orders", "pending_change_orders_amount", "retainage_percent"):
            c.amount(field)
        for field in ("substantial_completion_date", "contract_start_date", "contract_date",
                      "contract_estimated_completion_date", "actual_completion_date", "execution_date"):
            c.day(field)
        c.string("payment_terms")
        vendor_id = c.get("vendor.id") if isinstance(c.get("vendor"), dict) else c.get("vendor_id")
        if c.get("vendor") is not None and not isinstance(c.get("vendor"), dict):
            raise c.fail("vendor", "must be an object {id, name, …} or null")
        if vendor_id is not None:
            field = "vendor.id" if isinstance(c.get("vendor"), dict) else "vendor_id"
            vid = c.reference(field, vendors, "vendor")
            company = projects[project_id].get("company_id")
            if vendors[vid].get("company_id") != company:
                raise c.fail(field, f"vendor {vid} belongs to another company than project {project_id}")
        custom = c.get("custom_fields")
        if custom is not None and not isinstance(custom, dict):
            raise c.fail("custom_fields", "must be an object {\"custom_field_<id>\": {data_type, value}}")

    contracts = _index("prime_contracts", lists["prime_contracts"], contract_check)

    def contract_of(c: _Checker) -> tuple[str, int]:
        if isinstance(c.get("contract"), dict) and c.get("contract.id") is not None:
            return "contract.id", c.reference("contract.id", contracts, "prime contract")
        if c.get("contract_id") is not None:
            return "contract_id", c.reference("contract_id", contracts, "prime contract")
        raise c.fail("contract.id", "is required (the prime contract's id, or contract_id)")

    def pay_app_check(c: _Checker) -> None:
        project_id = c.reference("project_id", projects, "project")
        field, contract_id = contract_of(c)
        if contracts[contract_id].get("project_id") != project_id:
            raise c.fail(field, f"prime contract {contract_id} belongs to another project than {project_id}")
        c.integer("number")
        c.string("invoice_number")
        c.one_of("status", PAY_APP_STATUSES)
        for field_name in ("billing_date", "period_start", "period_end"):
            c.day(field_name)
        g702 = c.get("g702")
        if g702 is not None:
            if not isinstance(g702, dict):
                raise c.fail("g702", "must be an object")
            for name in G702_FIELDS:
                c.amount(f"g702.{name}")
        g703 = c.get("g703")
        if g703 is not None and not isinstance(g703, list):
            raise c.fail("g703", "must be a list of line items")

    def payment_check(c: _Checker) -> None:
        project_id = c.reference("project_id", projects, "project")
        contract_id = c.reference("contract_id", contracts, "prime contract")
        if contracts[contract_id].get("project_id") != project_id:
            raise c.fail("contract_id", f"prime contract {contract_id} belongs to another project than {project_id}")
        c.amount("amount", required=True)
        c.day("date", required=True)
        c.day("date_payment_settled")
        c.integer("draw_request_number", required=False)
        c.string("invoice_number")

    _index("payment_applications", lists["payment_applications"], pay_app_check)
    _index("contract_payments", lists["contract_payments"], payment_check)

    seen_clients: set[str] = set()
    for index, record in enumerate(lists["oauth_clients"]):
        c = _Checker("oauth_clients", index, record)
        client_id = c.string("client_id", required=True)
        if not client_id:
            raise c.fail("client_id", "must not be empty")
        if client_id in seen_clients:
            raise c.fail("client_id", f"duplicate client_id {client_id!r}")
        seen_clients.add(client_id)
        if not c.string("client_secret", required=True):
            raise c.fail("client_secret", "must not be empty")
        c.one_of("kind", ("user", "service_account"))
        for field, item_type, what in (("redirect_uris", str, "redirect URI strings"),
                                       ("company_ids", int, "company ids")):
            items = c.get(field)
            if items is None:
                if field == "company_ids":
                    raise c.fail(field, "is required (a list of company ids)")
                continue
            if not isinstance(items, list):
                raise c.fail(field, f"must be a list of {what}")
            for n, item in enumerate(items):
                if isinstance(item, bool) or not isinstance(item, item_type):
                    raise c.fail(f"{field}[{n}]", f"must be one of the {what}, got {item!r}")
                if field == "company_ids" and item not in companies:
                    raise c.fail(f"{field}[{n}]", f"refers to company {item}, which is not in the dataset")
        if record.get("kind") == "user" and not record.get("redirect_uris"):
            raise c.fail("redirect_uris", "a client of kind \"user\" needs at least one redirect URI")

    return lists


def load_dataset(path: str | Path) -> dict[str, Any]:
    """Read a dataset JSON file and return it validated (see :func:`validate_dataset`)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"{file}: cannot read dataset file: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{file}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    try:
        return validate_dataset(data)
    except DatasetError as exc:
        raise DatasetError(f"{file}: {exc}") from None
