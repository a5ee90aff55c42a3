"""Writing collections activity back to Procore, the system of record.

Every promise-to-pay, call note, dispute and sent reminder becomes a private item of the company's
"Collections Log" correspondence type (a Procore generic tool) on the project. No Flask here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from .procore.client import ProcoreClient

COLLECTIONS_LOG_TITLE = "Collections Log"


class CollectionsLogMissing(Exception):
    """The company has no "Collections Log" correspondence type yet (a one-time set-up by a company admin)."""

    def __init__(self, company_id: int) -> None:
        super().__init__(
            f'Company {company_id} has no "{COLLECTIONS_LOG_TITLE}" correspondence type. A Procore company '
            "administrator creates it once in Company Admin > Correspondence (private, with statuses Open and "
            "Closed); the app then logs promises, calls and sent reminders there."
        )
        self.company_id = company_id


@dataclass(frozen=True)
class LogEntry:
    project_id: int
    title: str
    description: str
    due_date: date | None = None
    status: str = "Open"
    assignee_ids: tuple[int, ...] = ()


def find_collections_log(client: ProcoreClient, company_id: int) -> dict[str, Any]:
    """The company's "Collections Log" generic tool (matched by title, case-insensitive)."""
    for tool in client.generic_tools(company_id):
        title = (tool.get("title") or tool.get("name") or "").strip().lower()
        if title == COLLECTIONS_LOG_TITLE.lower():
            return tool
    raise CollectionsLogMissing(company_id)


def _item(entry: LogEntry) -> dict[str, Any]:
    item: dict[str, Any] = {
        "title": entry.title[:250], "description": entry.description, "status": entry.status,
        "private": True, "skip_emails": True,
    }
    if entry.due_date is not None:
        item["due_date"] = entry.due_date.isoformat()
    if entry.assignee_ids:
        item["assignee_ids"] = list(entry.assignee_ids)
    return item


def create_log_item(client: ProcoreClient, tool_id: int, entry: LogEntry) -> dict[str, Any]:
    """Create a private Collections Log item on the project; returns Procore's record (with its ``id``)."""
    return client.create_generic_tool_item(entry.project_id, tool_id, _item(entry))


def update_log_item(client: ProcoreClient, tool_id: int, item_id: int, entry: LogEntry) -> dict[str, Any]:
    return client.update_generic_tool_item(entry.project_id, tool_id, item_id, _item(entry))
