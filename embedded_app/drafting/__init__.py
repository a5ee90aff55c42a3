"""Dunning-email drafting: Claude with a grounding check, or a deterministic template.

The only package that imports ``anthropic``. No Flask: callable from views, CLI and autopilot jobs alike.

    facts = facts_from_customer(customer, company=..., projects=...)
    d = draft(facts, api_key=app.config["ANTHROPIC_API_KEY"], model=app.config["ANTHROPIC_MODEL"])

Flow of ``draft``: no key → template. Otherwise one Claude call (forced strict ``submit_draft`` tool, cached
instructions, facts as a delimited JSON data block); the output is grounding-checked; a failing or malformed
draft is retried once with the errors sent back as the tool result; a second failure, or any API failure
(429/529 after the SDK's bounded retries, timeouts, connection errors), falls back to the template.
Recipients never come from the model: ``Draft.to`` is the contact e-mail from the facts (empty → needs a call).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import anthropic

from . import claude
from .facts import (
    STAGES,
    ContactFact,
    DraftFacts,
    InvoiceFact,
    PromiseFact,
    facts_from_customer,
    long_date,
    money,
)
from .grounding import check as check_grounding
from .template import render_template

__all__ = [
    "DEFAULT_MODEL", "STAGES", "ContactFact", "Draft", "DraftFacts", "InvoiceFact", "PromiseFact",
    "batch_requests", "check_grounding", "draft", "drafts_from_batch_results", "facts_from_customer",
    "long_date", "money", "render_template", "template_draft",
]

log = logging.getLogger(__name__)

DEFAULT_MODEL = "claude-sonnet-5-5"
MAX_ATTEMPTS = 2  # the first draft plus one retry with the grounding errors


@dataclass
class Draft:
    subject: str
    body: str
    cited_invoices: list[int]
    source: Literal["claude", "template"]
    model: str | None
    to: list[str]  # from the facts only, never from the model
    needs_call: bool  # no contact e-mail: flag for a phone call, do not send
    usage: dict[str, int] = field(default_factory=dict)
    grounding_errors: list[str] = field(default_factory=list)  # errors of the last rejected model draft
    attempts: int = 0  # model calls that returned a response
    fallback_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _recipients(facts: DraftFacts) -> list[str]:
    return [facts.contact_email] if facts.contact_email else []


def template_draft(
    facts: DraftFacts, *, reason: str | None = None, attempts: int = 0, usage: dict[str, int] | None = None,
    errors: list[str] | None = None, model: str | None = None,
) -> Draft:
    subject, body = render_template(facts)
    return Draft(
        subject=subject, body=body, cited_invoices=facts.invoice_ids, source="template", model=model,
        to=_recipients(facts), needs_call=not facts.contact_email, usage=usage or {},
        grounding_errors=errors or [], attempts=attempts, fallback_reason=reason,
    )


def _describe(exc: BaseException, api_key: str | None) -> str:
    """A loggable description of an API failure: class, status and request id; never the key."""
    parts = [type(exc).__name__]
    status = getattr(exc, "status_code", None)
    if status:
        parts.append(str(status))
    request_id = getattr(exc, "request_id", None)
    if request_id:
        parts.append(f"request {request_id}")
    text = " ".join(parts)
    return text.replace(api_key, "[key]") if api_key else text


def _add_usage(total: dict[str, int], more: dict[str, int]) -> None:
    for k, v in more.items():
        total[k] = total.get(k, 0) + v


def _assistant_content(message: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for block in message.content or []:
        if block.type == "text":
            out.append({"type": "text", "text": block.text})
        elif block.type == "tool_use":
            out.append({"type": "tool_use", "id": block.id, "name": block.name, "input": block.input})
    return out or [{"type": "text", "text": "(no output)"}]


def _feedback(tool_use_id: str | None, errors: list[str]) -> dict[str, Any]:
    text = (
        "The draft was rejected by the grounding check:\n"
        + "\n".join(f"- {e}" for e in errors)
        + f"\nWrite the email again, fixing every error, using only the data block, and call {claude.TOOL_NAME}."
    )
    if tool_use_id:
        return {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": tool_use_id, "is_error": True, "content": text}
        ]}
    return {"role": "user", "content": text}


def draft(
    facts: DraftFacts,
    *,
    api_key: str | None = None,
    model: str = DEFAULT_MODEL,
    client: anthropic.Anthropic | None = None,
    timeout: float = 30.0,
    max_retries: int = 2,
) -> Draft:
    """Draft one email for ``facts``. Never raises for API trouble: the template is the fallback."""
    if client is None and not api_key:
        return template_draft(facts, reason="no API key configured")
    own_client = client is None
    if client is None:
        assert api_key is not None
        client = claude.make_client(api_key, timeout=timeout, max_retries=max_retries)
    params = claude.request_params(facts, model)
    messages: list[dict[str, Any]] = list(params.pop("messages"))
    usage: dict[str, int] = {}
    errors: list[str] = []
    attempts = 0
    try:
        for _ in range(MAX_ATTEMPTS):
            try:
                message = client.messages.create(**params, messages=messages)
            except anthropic.AnthropicError as exc:
                reason = f"Claude API failed: {_describe(exc, api_key)}"
                log.warning("drafting for customer %s fell back to the template: %s", facts.customer_id, reason)
                return template_draft(facts, reason=reason, attempts=attempts, usage=usage, errors=errors,
                                      model=model)
            attempts += 1
            _add_usage(usage, claude.usage_dict(message))
            tool_use_id: str | None = None
            try:
                tool_use_id, data = claude.parse_tool_output(message)
            except claude.MalformedOutput as exc:
                tool_use_id = exc.tool_use_id
                errors = [str(exc)]
            else:
                errors = check_grounding(data["subject"], data["body"], data["cited_invoices"], facts)
                if not errors:
                    return Draft(
                        subject=data["subject"].strip(), body=data["body"].strip() + "\n",
                        cited_invoices=sorted(set(data["cited_invoices"])), source="claude",
                        model=getattr(message, "model", None) or model, to=_recipients(facts),
                        needs_call=not facts.contact_email, usage=usage, attempts=attempts,
                    )
            log.info("draft for customer %s rejected (attempt %d): %s", facts.customer_id, attempts, errors)
            messages = [*messages, {"role": "assistant", "content": _assistant_content(message)},
                        _feedback(tool_use_id, errors)]
    finally:
        if own_client:
            client.close()
    return template_draft(
        facts, reason="model drafts failed the grounding check", attempts=attempts, usage=usage, errors=errors,
        model=model,
    )


# --- Message Batches (autopilot) ------------------------------------------------------------------------------
# Autopilot drafts many customers at once at half the price through the Message Batches API:
#     requests = batch_requests(facts_by_id, model)
#     batch = client.messages.batches.create(requests=requests)
#     ... poll client.messages.batches.retrieve(batch.id).processing_status == "ended" ...
#     drafts = drafts_from_batch_results(client.messages.batches.results(batch.id), facts_by_id, model)
# A batch result that fails grounding is not retried inside the batch: it falls back to the template (the job
# may instead call ``draft`` synchronously for those few). Scheduling and polling are left to the autopilot job.


def batch_requests(facts_by_id: dict[str, DraftFacts], model: str = DEFAULT_MODEL) -> list[dict[str, Any]]:
    """Message Batches ``requests`` for ``client.messages.batches.create``; custom_id = the dict key."""
    return [{"custom_id": custom_id, "params": claude.request_params(facts, model)}
            for custom_id, facts in facts_by_id.items()]


def drafts_from_batch_results(
    results: Iterable[Any], facts_by_id: dict[str, DraftFacts], model: str = DEFAULT_MODEL
) -> dict[str, Draft]:
    """Turn batch results into grounded drafts (template for errored/expired/ungrounded results)."""
    out: dict[str, Draft] = {}
    for item in results:
        facts = facts_by_id.get(item.custom_id)
        if facts is None:
            continue
        result = item.result
        if result.type != "succeeded":
            out[item.custom_id] = template_draft(facts, reason=f"batch request {result.type}", model=model)
            continue
        message = result.message
        usage = claude.usage_dict(message)
        try:
            _, data = claude.parse_tool_output(message)
        except claude.MalformedOutput as exc:
            out[item.custom_id] = template_draft(facts, reason="malformed batch output", attempts=1, usage=usage,
                                                 errors=[str(exc)], model=model)
            continue
        errors = check_grounding(data["subject"], data["body"], data["cited_invoices"], facts)
        if errors:
            out[item.custom_id] = template_draft(facts, reason="model draft failed the grounding check",
                                                 attempts=1, usage=usage, errors=errors, model=model)
        else:
            out[item.custom_id] = Draft(
                subject=data["subject"].strip(), body=data["body"].strip() + "\n",
                cited_invoices=sorted(set(data["cited_invoices"])), source="claude", model=message.model,
                to=_recipients(facts), needs_call=not facts.contact_email, usage=usage, attempts=1,
            )
    for custom_id, facts in facts_by_id.items():
        out.setdefault(custom_id, template_draft(facts, reason="no batch result", model=model))
    return out
