"""Adaptive Card building blocks (version 1.5, plain dicts) and the small replies of the Teams bot: help, errors,
information, account linking, subscriptions.

Every renderer returns a ``Card`` (the ``AdaptiveCard`` dict). The bot sends it as an attachment
(:func:`attachment`, :func:`message_activity`); a Workflows webhook takes :func:`workflows_payload`. Building blocks
taking ``raw`` text make it safe themselves; those taking ``md`` expect escaped markdown (``text.escape``).
Size limits are bytes of the serialised JSON (:func:`card_size`, ASCII-escaped: the conservative count).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

from psa_chatops.cards.commands import (
    CATEGORY_LABELS,
    CommandHelp,
    closest,
    command_names,
    customer_line,
    priority_line,
)
from psa_chatops.cards.teams.text import clip, clip_escaped, code, escape, plain, translate_md
from psa_chatops.core.errors import N_
from psa_chatops.core.routing import Category, RoutingRule
from psa_chatops.i18n import normalise_locale, translate, translate_plural

Card = dict[str, Any]
Element = dict[str, Any]
Action = dict[str, Any]

__all__ = [
    "CARD_CONTENT_TYPE",
    "CARD_VERSION",
    "COMMANDS",
    "Action",
    "Card",
    "CommandHelp",
    "Element",
    "adaptive_card",
    "attachment",
    "card_size",
    "closest_command",
    "error_card",
    "execute_action",
    "fact_set",
    "fit",
    "help_card",
    "info_card",
    "link_instructions_card",
    "message_activity",
    "open_url_action",
    "show_card_action",
    "subscription_card",
    "text_block",
    "unsubscribed_card",
    "workflows_payload",
]

CARD_VERSION: Final = "1.5"
CARD_SCHEMA: Final = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_CONTENT_TYPE: Final = "application/vnd.microsoft.card.adaptive"
TEXT: Final = 4_000  # our own ceiling for one TextBlock (Teams has none of its own but the card's size)
FACT: Final = 500  # a fact's value
ACTION_TITLE: Final = 40  # action titles wrap badly beyond this
FALLBACK_TEXT: Final = 500
SUMMARY: Final = 250  # the activity's notification preview


# --- card building blocks ----------------------------------------------------------------------------------------


def adaptive_card(
    body: Sequence[Element],
    actions: Sequence[Action] = (),
    *,
    locale: str,
    fallback_text: str,
    refresh: Mapping[str, Any] | None = None,
) -> Card:
    """A top-level card: version 1.5, ``lang`` for the date functions, ``fallbackText`` (raw text)."""
    card: Card = {
        "type": "AdaptiveCard",
        "$schema": CARD_SCHEMA,
        "version": CARD_VERSION,
        "lang": normalise_locale(locale, "en"),
        "fallbackText": plain(" ".join(fallback_text.split()) or " ", FALLBACK_TEXT),
        "body": list(body),
    }
    if actions:
        card["actions"] = list(actions)
    if refresh is not None:
        card["refresh"] = dict(refresh)
    return card


def sub_card(body: Sequence[Element], actions: Sequence[Action] = ()) -> Card:
    """The card inside an ``Action.ShowCard`` (no version of its own)."""
    card: Card = {"type": "AdaptiveCard", "body": list(body)}
    if actions:
        card["actions"] = list(actions)
    return card


def text_block(
    md: str,
    *,
    size: str | None = None,
    weight: str | None = None,
    color: str | None = None,
    subtle: bool = False,
    separator: bool = False,
    spacing: str | None = None,
    limit: int = TEXT,
) -> Element:
    """A wrapping ``TextBlock`` of escaped markdown, clipped to ``limit``."""
    block: Element = {"type": "TextBlock", "text": clip_escaped(md, limit) or " ", "wrap": True}
    optional = {"size": size, "weight": weight, "color": color, "spacing": spacing}
    block.update({k: v for k, v in optional.items() if v is not None})
    if subtle:
        block["isSubtle"] = True
    if separator:
        block["separator"] = True
    return block


def fact_set(facts: Iterable[tuple[str, str]]) -> Element:
    """A ``FactSet`` of (raw label, escaped markdown value) pairs; Teams parses both as markdown."""
    return {
        "type": "FactSet",
        "facts": [{"title": escape(label), "value": clip_escaped(value, FACT) or " "} for label, value in facts],
    }


def container(items: Sequence[Element], *, style: str | None = None, separator: bool = False) -> Element:
    element: Element = {"type": "Container", "items": list(items)}
    if style is not None:
        element["style"] = style
    if separator:
        element["separator"] = True
    return element


def action_data(number: int, version: int, **extra: object) -> dict[str, Any]:
    """What every ticket action carries: the ticket and the version the card showed (stale clicks are refused)."""
    return {"number": number, "version": version, **extra}


def execute_action(title: str, verb: str, data: Mapping[str, Any], *, style: str | None = None) -> Action:
    """An ``Action.Execute`` with its ``Action.Submit`` fallback (same data, plus ``verb``) for clients without
    Universal Actions. ``title`` is raw text."""
    shown = plain(title, ACTION_TITLE)
    submit: Action = {"type": "Action.Submit", "title": shown, "data": {**data, "verb": verb}}
    action: Action = {"type": "Action.Execute", "title": shown, "verb": verb, "data": dict(data)}
    if style is not None:
        action["style"] = submit["style"] = style
    action["fallback"] = submit
    return action


def open_url_action(title: str, url: str) -> Action:
    return {"type": "Action.OpenUrl", "title": plain(title, ACTION_TITLE), "url": url}


def show_card_action(title: str, card: Card) -> Action:
    return {"type": "Action.ShowCard", "title": plain(title, ACTION_TITLE), "card": card}


def input_label(raw: str) -> str:
    return plain(raw, 200)


# --- wrapping and sizes ------------------------------------------------------------------------------------------


def attachment(card: Card) -> dict[str, Any]:
    """The card as a Bot Framework attachment."""
    return {"contentType": CARD_CONTENT_TYPE, "content": card}


def message_activity(card: Card, *, summary: str | None = None) -> dict[str, Any]:
    """A message activity carrying the card; ``summary`` (raw) is what Teams shows in notifications and the feed."""
    activity: dict[str, Any] = {"type": "message", "attachments": [attachment(card)]}
    text = summary if summary is not None else card.get("fallbackText")
    if text:
        activity["summary"] = plain(" ".join(str(text).split()), SUMMARY)
    return activity


def workflows_payload(card: Card) -> dict[str, Any]:
    """What a Workflows (Power Automate "post card") webhook takes: a message wrapping the card."""
    return {"type": "message", "attachments": [{"contentType": CARD_CONTENT_TYPE, "content": card}]}


def card_size(payload: Mapping[str, Any]) -> int:
    """Bytes of the serialised JSON, with non-ASCII escaped (``\\uXXXX``): never less than what goes on the wire."""
    return len(json.dumps(payload).encode("ascii"))


def fit(
    render: Callable[[float], Card], limit: int, *, wrap: Callable[[Card], Mapping[str, Any]] | None = None
) -> Card:
    """The first rendering within ``limit`` bytes, shrinking the free texts: ``render(scale)`` is asked for scale
    1, then smaller ones, down to 0 (free texts left out, a link to the PSA instead). ``wrap`` measures the
    payload that is actually sent (the Workflows message around the card)."""
    card: Card = {}
    for scale in (1.0, 0.5, 0.25, 0.1, 0.0):
        card = render(scale)
        if card_size(wrap(card) if wrap else card) <= limit:
            return card
    raise ValueError(f"the card needs {card_size(card)} bytes even without its free texts; the limit is {limit}")


def budget(full: int, scale: float) -> int:
    """A character budget scaled down for :func:`fit` (0 when the text is to be left out)."""
    return int(full * scale)


# --- help -------------------------------------------------------------------------------------------------------


COMMANDS: Final[tuple[CommandHelp, ...]] = (
    CommandHelp("ticket", "ticket <number>", "ticket 12345", N_("Show a ticket with its buttons.")),
    CommandHelp("new", "new [title]", "new VPN down", N_("Open the form for a new ticket.")),
    CommandHelp(
        "alert",
        "alert <provider>/<id> | <number>",
        "alert sentinelone/1789",
        N_("Show a security alert (or a ticket's alerts) with its buttons."),
    ),
    CommandHelp("mine", "mine", "mine", N_("Your open tickets.")),
    CommandHelp(
        "queue",
        "queue [customer] [status]",
        "queue CUST-789 open",
        N_("Open tickets, optionally of one customer or in one status."),
    ),
    CommandHelp("search", "search <text>", "search printer", N_("Find tickets by text.")),
    CommandHelp("sla", "sla", "sla", N_("Tickets whose SLA is at risk or breached.")),
    CommandHelp(
        "note",
        "note <number> [--public] <text>",
        "note 12345 --public We are on it.",
        N_("Add an internal note; with --public, reply to the customer."),
    ),
    CommandHelp(
        "close",
        "close <number> [resolution]",
        "close 12345 Replaced the toner.",
        N_("Close a ticket, with a resolution."),
    ),
    CommandHelp("link", "link", "link", N_("Link your Teams account to your PSA user.")),
    CommandHelp(
        "subscribe",
        "subscribe [customer=...] [priority>=high] [events=new,sla,escalation]",
        "subscribe customer=CUST-789 priority>=high events=new,sla",
        N_("Send ticket notifications to this channel."),
    ),
    CommandHelp("unsubscribe", "unsubscribe", "unsubscribe", N_("Stop the ticket notifications in this channel.")),
    CommandHelp("help", "help", "help", N_("This list.")),
)

COMMAND_NAMES: Final[tuple[str, ...]] = command_names(COMMANDS)


def closest_command(word: str) -> str | None:
    """The command the user probably meant ("subscibe" → "subscribe"), or None when nothing is close."""
    return closest(word, COMMAND_NAMES)


def help_card(locale: str, *, unknown: str | None = None, suggestion: str | None = None) -> Card:
    """The reply to ``help`` (and to text the bot does not understand: ``unknown`` with the closest command)."""
    body: list[Element] = []
    lead = ""
    if unknown is not None:
        lead = _unknown_line(unknown, suggestion, locale)
        body.append(text_block("❔ " + lead, color="Warning"))
    title = translate("PSA commands", locale)
    body.append(text_block(escape(title), size="Large", weight="Bolder"))
    for command in COMMANDS:
        usage = code(command.usage)
        lines = [bold_md(usage), escape(translate(command.description, locale))]
        if command.example != command.usage:
            lines.append(translate_md(N_("Example: {example}"), locale, example=code(command.example)))
        body.append(text_block("\n\n".join(lines), spacing="Medium"))
    fallback = _strip_md(lead) if lead else title
    return adaptive_card(body, locale=locale, fallback_text=fallback)


def bold_md(md: str) -> str:
    return f"**{md}**"


def _unknown_line(unknown: str, suggestion: str | None, locale: str) -> str:
    typed = code(clip(unknown, 50))
    line = translate_md(N_("Unknown command {command}."), locale, command=typed)
    if suggestion:
        line += " " + translate_md(N_("Did you mean {suggestion}?"), locale, suggestion=code(clip(suggestion, 50)))
    return line


def _strip_md(md: str) -> str:
    """Escaped markdown back to text for ``fallbackText`` (backslashes and code ticks removed)."""
    text = md.replace("\n\n", " ").replace("`", "")
    out: list[str] = []
    skip = False
    for char in text:
        if char == "\\" and not skip:
            skip = True
            continue
        skip = False
        out.append(char)
    return "".join(out)


# --- errors, information, linking ---------------------------------------------------------------------------------


def error_card(template: str, params: Mapping[str, Any], locale: str) -> Card:
    """A domain error (``exc.template``, ``exc.params``) in the user's language; ``Label`` params are translated."""
    text = translate(template, locale, **params)
    return adaptive_card([text_block("⚠️ " + escape(text), color="Attention")], locale=locale, fallback_text=text)


def info_card(text: str, locale: str, /, **params: object) -> Card:
    """A short reply; ``text`` is an English msgid (mark it with ``N_``), ``params`` are filled in as raw text."""
    shown = translate(text, locale, **params)
    return adaptive_card([text_block(escape(shown))], locale=locale, fallback_text=shown)


def link_instructions_card(locale: str, *, email_hint: str | None = None, link_url: str | None = None) -> Card:
    """How to link a Teams account to a PSA user; ``email_hint`` is the address that matched nobody, ``link_url``
    an optional page that links the account (shown as a button)."""
    if email_hint:
        lead = translate_md(
            N_("No PSA user has the e-mail address {email}."), locale, email=bold_md(escape(clip(email_hint, 200)))
        )
        how = translate("Ask a PSA admin to add it to your user, then send link again.", locale)
    else:
        lead = escape(translate("Your Teams account is not linked to a PSA user yet.", locale))
        how = translate("Send link: it finds your PSA user by your Teams e-mail address.", locale)
    actions = [open_url_action(translate("Link account", locale), link_url)] if link_url else []
    body = [text_block("🔗 " + lead), text_block(escape(how))]
    return adaptive_card(body, actions, locale=locale, fallback_text=_strip_md(lead))


# --- subscribe ---------------------------------------------------------------------------------------------------


def subscription_card(rule: RoutingRule, locale: str, *, customer_name: str | None = None) -> Card:
    """What this channel now hears about (the reply to ``subscribe``)."""
    events = ", ".join(translate(CATEGORY_LABELS[c], locale) for c in Category if c in rule.categories)
    lead = translate_md(
        N_("This channel receives: {events}."), locale, events=escape(events or translate("nothing yet", locale))
    )
    lines = [
        lead,
        customer_line(rule, customer_name, locale, escape, translate_md),
        priority_line(rule, locale, escape, translate_md),
    ]
    if rule.dispatchers:
        lines.append(escape(translate("Escalations that page the dispatchers always come here.", locale)))
    hint = escape(translate("Change it with subscribe, stop it with unsubscribe.", locale))
    body = [text_block("🔔 " + "\n\n".join(lines)), text_block(hint, subtle=True, size="Small")]
    return adaptive_card(body, locale=locale, fallback_text=_strip_md(lead))


def unsubscribed_card(removed: int, locale: str) -> Card:
    """The reply to ``unsubscribe``."""
    if removed == 0:
        text = translate("This channel had no ticket notifications.", locale)
    else:
        text = translate_plural(
            "Removed {n} subscription; this channel gets no more ticket notifications.",
            "Removed {n} subscriptions; this channel gets no more ticket notifications.",
            removed,
            locale,
        )
    return adaptive_card([text_block("🔕 " + escape(text))], locale=locale, fallback_text=text)
