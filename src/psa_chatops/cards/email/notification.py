"""Ticket notifications as e-mail, from outbox envelopes (``storage.outbox.envelope``).

Two audiences. A customer contact reads a letter about their request: received (``TicketOpened``), a reply from
the service desk (a public ``NoteAdded``, its text in full) or resolved (``TicketStatusChanged``), with the hint
that answering the mail adds to the ticket. A technician reads the event's line, the same sentence as in Slack and
Teams (``cards.wording``), and the ticket's facts. Which events reach which audience (never an internal note to a
contact) is the notifier's decision; this module renders whatever it is given, in the recipient's language.

Envelopes carry ids, not names; pass ``names`` (id → display name) to show names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from psa_chatops.cards import wording
from psa_chatops.cards.email.text import (
    HTML,
    PLAIN,
    EmailContent,
    Paragraph,
    escape,
    html_document,
    html_link,
    plain_document,
    raw_paragraph,
)
from psa_chatops.cards.labels import priority_label, status_label
from psa_chatops.cards.links import ticket_url
from psa_chatops.cards.texts import translator
from psa_chatops.cards.wording import Names
from psa_chatops.core.errors import N_
from psa_chatops.i18n import Translator

__all__ = ["Audience", "render"]

Audience = Literal["contact", "technician"]


def render(
    envelope: Mapping[str, Any],
    *,
    audience: Audience,
    locale: str,
    public_url: str,
    timezone: str | None = None,
    names: Names | None = None,
    recipient_name: str | None = None,
) -> EmailContent:
    """The mail about the envelope's event for one recipient."""
    tr = translator(locale, timezone)
    ticket: Mapping[str, Any] = envelope.get("ticket") or {}
    number = int(envelope["number"])
    title = str(ticket.get("title") or "")
    heading = tr.t("Ticket #{number}: {title}", number=number, title=title)
    if audience == "contact":
        paragraphs = _contact_paragraphs(envelope, tr, names or {}, recipient_name)
    else:
        paragraphs = _technician_paragraphs(envelope, tr, names or {}, public_url)
    return EmailContent(
        subject=title or heading,
        text=plain_document(heading, paragraphs),
        html=html_document(heading, paragraphs, lang=tr.locale),
    )


# --- contacts ------------------------------------------------------------------------------------------------------


def _text(tr: Translator, msgid: str, **params: str) -> Paragraph:
    """A translated sentence whose parameters are raw text (escaped for HTML here)."""
    return Paragraph(
        escape(tr.t(msgid, **params)) if not params else HTML.fill(msgid, tr.locale, **_escaped(params)),
        tr.t(msgid, **params),
    )


def _escaped(params: Mapping[str, str]) -> dict[str, str]:
    return {key: escape(value) for key, value in params.items()}


def _contact_paragraphs(
    envelope: Mapping[str, Any], tr: Translator, names: Names, recipient_name: str | None
) -> list[Paragraph]:
    data: Mapping[str, Any] = envelope.get("data") or {}
    ticket: Mapping[str, Any] = envelope.get("ticket") or {}
    number = str(envelope["number"])
    greeting = _text(tr, N_("Hello {name},"), name=recipient_name) if recipient_name else _text(tr, N_("Hello,"))
    kind = str(envelope.get("type"))
    body: list[Paragraph]
    if kind == "TicketOpened":
        body = [
            _text(tr, N_("we have received your request and recorded it as ticket #{number}."), number=number),
            _facts(tr, ticket),
            _text(tr, N_("We will get back to you as soon as possible.")),
        ]
    elif kind == "NoteAdded":
        author = _display(str(data.get("author_id") or envelope.get("actor") or ""), names, tr)
        body = [
            _text(tr, N_("{author} has replied to your ticket #{number}:"), author=author, number=number),
            raw_paragraph(str(data.get("body") or ""), quote=True),
        ]
    elif kind == "TicketStatusChanged" and data.get("to_status") == "resolved":
        body = [_text(tr, N_("your ticket #{number} has been resolved."), number=number)]
        resolution = str(data.get("resolution") or "").strip()
        if resolution:
            body += [_text(tr, N_("Resolution:")), raw_paragraph(resolution, quote=True)]
        body.append(_text(tr, N_("If the problem persists, just reply to this e-mail.")))
    else:
        status = status_label(str(ticket.get("status")), tr.locale)
        body = [
            _text(tr, N_("your ticket #{number} has been updated (status: {status})."), number=number, status=status)
        ]
    hint = _text(
        tr,
        N_("Reply to this e-mail to add information to the ticket; please keep [#{number}] in the subject."),
        number=number,
    )
    return [greeting, *body, hint, _text(tr, N_("Your service desk"))]


def _display(key: str, names: Names, tr: Translator) -> str:
    if not key or key.startswith(wording.SYSTEM_PREFIXES):
        return tr.t("Your service desk")
    _, _, bare = key.partition(":")
    return names.get(key) or names.get(bare) or bare or key


def _facts(tr: Translator, ticket: Mapping[str, Any]) -> Paragraph:
    rows = [
        (tr.t("Title"), str(ticket.get("title") or "")),
        (tr.t("Priority"), priority_label(str(ticket.get("priority")), tr.locale)),
        (tr.t("Status"), status_label(str(ticket.get("status")), tr.locale)),
    ]
    return Paragraph("", "", facts=[(label, escape(value), value) for label, value in rows])


# --- technicians ---------------------------------------------------------------------------------------------------


class _Context(wording.LineContext):
    def __init__(
        self, envelope: Mapping[str, Any], tr: Translator, names: Names, public_url: str, markup: wording.Markup
    ) -> None:
        super().__init__(envelope, tr, names, public_url, markup)
        self.snippet = 4000


def _technician_paragraphs(
    envelope: Mapping[str, Any], tr: Translator, names: Names, public_url: str
) -> list[Paragraph]:
    rich, plain = _Context(envelope, tr, names, public_url, HTML), _Context(envelope, tr, names, public_url, PLAIN)
    paragraphs = []
    line_html, line_text = wording.event_line(rich), wording.event_line(plain)
    if line_html is not None and line_text is not None:
        paragraphs.append(Paragraph(line_html, line_text))
    facts_html = wording.root_facts(rich, lambda p, loc: escape(priority_label(p, loc)), lambda d: escape(tr.dt(d)))
    facts_text = wording.root_facts(plain, priority_label, tr.dt)
    paragraphs.append(
        Paragraph(
            "",
            "",
            facts=[(label, value, text) for (label, value), (_, text) in zip(facts_html, facts_text, strict=True)],
        )
    )
    url = ticket_url(public_url, int(envelope["number"]))
    label = tr.t("Open ticket #{number} in PSA", number=envelope["number"])
    paragraphs.append(Paragraph(html_link(url, label), f"{label}: {url}"))
    return paragraphs
