"""Scheduled reports as e-mail (payloads from ``handlers.reports``): the daily SLA digest for technicians and the
weekly summary for a customer's contacts, in the recipient's language and timezone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from psa_chatops.cards.email.text import (
    EmailContent,
    Paragraph,
    escape,
    html_document,
    html_link,
    plain_document,
)
from psa_chatops.cards.labels import priority_label, sla_target_label, status_label
from psa_chatops.cards.links import ticket_url
from psa_chatops.cards.texts import translator
from psa_chatops.cards.wording import parse_time
from psa_chatops.core.errors import N_
from psa_chatops.handlers.reports import CUSTOMER_SUMMARY_EVENT, SLA_DIGEST_EVENT
from psa_chatops.i18n import Translator

__all__ = ["REPORT_EVENT_TYPES", "render"]

REPORT_EVENT_TYPES: Final = frozenset({SLA_DIGEST_EVENT, CUSTOMER_SUMMARY_EVENT})


def render(payload: Mapping[str, Any], *, locale: str, public_url: str, timezone: str | None = None) -> EmailContent:
    tr = translator(locale, timezone or payload.get("timezone"))
    if payload.get("report") == "weekly-customer":
        title, paragraphs = _customer_summary(payload, tr, public_url)
    else:
        title, paragraphs = _sla_digest(payload, tr, public_url)
    return EmailContent(
        subject=title,
        text=plain_document(title, paragraphs),
        html=html_document(title, paragraphs, lang=tr.locale),
    )


def _para(text: str) -> Paragraph:
    return Paragraph(escape(text), text)


def _sla_digest(payload: Mapping[str, Any], tr: Translator, public_url: str) -> tuple[str, list[Paragraph]]:
    breached, at_risk = int(payload.get("breached_count") or 0), int(payload.get("at_risk_count") or 0)
    title = tr.t(
        "SLA digest {date}: {breached} breached, {at_risk} at risk",
        date=str(payload.get("period") or ""),
        breached=breached,
        at_risk=at_risk,
    )
    paragraphs = []
    for heading, items in ((N_("Breached"), payload.get("breached")), (N_("At risk"), payload.get("at_risk"))):
        if isinstance(items, list) and items:
            paragraphs += [_para(tr.t(heading)), *(_sla_item(item, tr, public_url) for item in items)]
    return title, paragraphs


def _sla_item(item: Mapping[str, Any], tr: Translator, public_url: str) -> Paragraph:
    number = int(item["number"])
    url = ticket_url(public_url, number)
    due = parse_time(item.get("due_at"))
    facts = [
        (tr.t("Customer"), str(item.get("customer") or "")),
        (tr.t("Priority"), priority_label(str(item.get("priority")), tr.locale)),
        (tr.t("Assignee"), str(item.get("assignee") or tr.t("unassigned"))),
        (
            tr.t("SLA {target}", target=sla_target_label(str(item.get("target")), tr.locale)),
            tr.t("{percent} %, due {due}", percent=item.get("percent"), due=tr.dt(due) if due else "—"),
        ),
    ]
    label = f"#{number} {item.get('title') or ''}"
    rows = [(tr.t("Ticket"), html_link(url, label), f"{label} <{url}>")]
    rows += [(lbl, escape(value), value) for lbl, value in facts]
    return Paragraph("", "", facts=rows)


def _customer_summary(payload: Mapping[str, Any], tr: Translator, public_url: str) -> tuple[str, list[Paragraph]]:
    since, until = parse_time(payload.get("since")), parse_time(payload.get("until"))
    title = tr.t("Weekly summary for {customer}", customer=str(payload.get("customer") or ""))
    name = (payload.get("recipient") or {}).get("name")
    paragraphs = [_para(tr.t("Hello {name},", name=name) if name else tr.t("Hello,"))]
    if since and until:
        paragraphs.append(
            _para(
                tr.t(
                    "here is what happened with your tickets from {start} to {end}.",
                    start=tr.dt(since),
                    end=tr.dt(until),
                )
            )
        )
    counts = [
        (tr.t("Tickets opened"), str(payload.get("opened_count", 0))),
        (tr.t("Tickets closed"), str(payload.get("closed_count", 0))),
        (tr.t("Resolved within the SLA"), _kept(payload, tr)),
        (tr.t("Still open"), str(payload.get("open_count", 0))),
    ]
    paragraphs.append(Paragraph("", "", facts=[(label, escape(value), value) for label, value in counts]))
    for heading, items in (
        (N_("Opened this week"), payload.get("opened")),
        (N_("Closed this week"), payload.get("closed")),
    ):
        if isinstance(items, list) and items:
            paragraphs += [_para(tr.t(heading)), _ticket_list(items, tr)]
    paragraphs.append(_para(tr.t("Your service desk")))
    return title, paragraphs


def _kept(payload: Mapping[str, Any], tr: Translator) -> str:
    total = int(payload.get("sla_total") or 0)
    if not total:
        return "—"
    return tr.t("{kept} of {total}", kept=int(payload.get("sla_kept") or 0), total=total)


def _ticket_list(items: Sequence[Mapping[str, Any]], tr: Translator) -> Paragraph:
    rows = [
        (f"#{int(i['number'])}", str(i.get("title") or ""), status_label(str(i.get("status")), tr.locale))
        for i in items
    ]
    return Paragraph(
        "",
        "",
        facts=[
            (number, f"{escape(title)} ({escape(status)})", f"{title} ({status})") for number, title, status in rows
        ],
    )
