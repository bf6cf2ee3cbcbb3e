"""Messages: the ``Message`` every renderer returns, the Block Kit building blocks, and the small replies of the
``/psa`` command (help, errors, information, account linking, subscriptions).

The building blocks escape and clip what they are given, so a renderer cannot forget a limit: functions taking
``raw`` text escape it; functions taking ``escaped``/mrkdwn text only clip it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

from psa_chatops.cards.commands import (
    CATEGORY_LABELS,
    CommandHelp,
    closest,
    command_names,
    customer_line,
    priority_line,
)
from psa_chatops.cards.slack import ids
from psa_chatops.cards.slack.text import LIMITS, clip, clip_escaped, escape, translate_mrkdwn
from psa_chatops.core.errors import N_
from psa_chatops.core.routing import Category, RoutingRule
from psa_chatops.i18n import translate, translate_plural

Block = dict[str, Any]

__all__ = [
    "COMMANDS",
    "Block",
    "CommandHelp",
    "Message",
    "closest_command",
    "command_list",
    "error_message",
    "help_message",
    "info_message",
    "link_instructions",
    "reaction_prompt",
    "subscription_summary",
    "unsubscribed_message",
]


@dataclass(frozen=True)
class Message:
    """A message for ``chat.postMessage``/``chat.update``/``respond``: Block Kit plus the fallback ``text``.

    ``text`` is what notifications, screen readers and old clients show; it is escaped mrkdwn and kept short.
    """

    text: str
    blocks: list[Block] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The keyword arguments for the Web API (``client.chat_postMessage(channel=..., **message.as_dict())``)."""
        return {"text": self.text, "blocks": list(self.blocks)}


def fallback(escaped: str) -> str:
    """The fallback ``text`` of a message, within our own short budget."""
    return clip_escaped(escaped, LIMITS.FALLBACK_TEXT)


# --- Block Kit building blocks -----------------------------------------------------------------------------------


def plain(raw: str, limit: int = LIMITS.SECTION_TEXT) -> dict[str, Any]:
    """A plain_text object from raw text (escaped, clipped to ``limit``)."""
    return {"type": "plain_text", "text": clip_escaped(escape(raw) or " ", limit), "emoji": True}


def mrkdwn(escaped: str, limit: int = LIMITS.SECTION_TEXT) -> dict[str, Any]:
    """A mrkdwn object; ``verbatim`` so Slack does not turn bare names into mentions or links on its own."""
    return {"type": "mrkdwn", "text": clip_escaped(escaped or " ", limit), "verbatim": True}


def header(raw: str) -> Block:
    return {"type": "header", "text": plain(raw, LIMITS.HEADER_TEXT)}


def section(escaped: str, *, accessory: dict[str, Any] | None = None, block_id: str | None = None) -> Block:
    block: Block = {"type": "section", "text": mrkdwn(escaped)}
    if accessory is not None:
        block["accessory"] = accessory
    if block_id is not None:
        block["block_id"] = block_id
    return block


def fields_section(fields: list[str]) -> Block:
    """A two-column section of escaped mrkdwn fields (at most 10, 2,000 characters each)."""
    return {
        "type": "section",
        "fields": [mrkdwn(f, LIMITS.SECTION_FIELD_TEXT) for f in fields[: LIMITS.SECTION_FIELDS]],
    }


def context(*escaped: str) -> Block:
    return {
        "type": "context",
        "elements": [mrkdwn(e, LIMITS.CONTEXT_TEXT) for e in escaped[: LIMITS.CONTEXT_ELEMENTS]],
    }


def divider() -> Block:
    return {"type": "divider"}


def button(
    raw: str,
    action_id: str,
    *,
    value: str | None = None,
    url: str | None = None,
    style: str | None = None,
    confirm: dict[str, Any] | None = None,
) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "button", "text": plain(raw, LIMITS.BUTTON_TEXT), "action_id": action_id}
    optional = {"value": value, "url": url, "style": style, "confirm": confirm}
    element.update({k: v for k, v in optional.items() if v is not None})
    return element


def confirm_dialog(title: str, escaped_text: str, confirm: str, deny: str, *, danger: bool = False) -> dict[str, Any]:
    """A confirm dialog (title, mrkdwn text, the two buttons) within its own limits."""
    dialog: dict[str, Any] = {
        "title": plain(title, LIMITS.CONFIRM_TITLE),
        "text": mrkdwn(escaped_text, LIMITS.CONFIRM_TEXT),
        "confirm": plain(confirm, LIMITS.CONFIRM_BUTTON),
        "deny": plain(deny, LIMITS.CONFIRM_BUTTON),
    }
    if danger:
        dialog["style"] = "danger"
    return dialog


def actions(elements: list[dict[str, Any]], *, block_id: str | None = None) -> Block:
    block: Block = {"type": "actions", "elements": elements[: LIMITS.ACTION_ELEMENTS]}
    if block_id is not None:
        block["block_id"] = block_id
    return block


def option(raw: str, value: str) -> dict[str, Any]:
    """A select option: text ≤ 75, value ≤ 150 (values are ids, never cut silently)."""
    if not value or len(value) > LIMITS.OPTION_VALUE:
        raise ValueError(f"an option value must have 1 to {LIMITS.OPTION_VALUE} characters: {value!r}")
    return {"text": plain(raw, LIMITS.OPTION_TEXT), "value": value}


# --- /psa help ---------------------------------------------------------------------------------------------------


COMMANDS: Final[tuple[CommandHelp, ...]] = (
    CommandHelp("ticket", "/psa ticket <number>", "/psa ticket 12345", N_("Show a ticket with its buttons.")),
    CommandHelp("ticket", "/psa ticket new [title]", "/psa ticket new VPN down", N_("Open the form for a new ticket.")),
    CommandHelp(
        "alert",
        "/psa alert <provider>/<id> | <number>",
        "/psa alert sentinelone/1789",
        N_("Show a security alert (or a ticket's alerts) with its buttons."),
    ),
    CommandHelp("mine", "/psa mine", "/psa mine", N_("Your open tickets.")),
    CommandHelp(
        "queue",
        "/psa queue [customer] [status]",
        "/psa queue CUST-789 open",
        N_("Open tickets, optionally of one customer or in one status."),
    ),
    CommandHelp("search", "/psa search <text>", "/psa search printer", N_("Find tickets by text.")),
    CommandHelp("sla", "/psa sla", "/psa sla", N_("Tickets whose SLA is at risk or breached.")),
    CommandHelp("assign", "/psa assign <number> @user", "/psa assign 12345 @mia", N_("Assign a ticket.")),
    CommandHelp(
        "note",
        "/psa note <number> [--public] <text>",
        "/psa note 12345 --public We are on it.",
        N_("Add an internal note; with --public, reply to the customer."),
    ),
    CommandHelp(
        "close",
        "/psa close <number> [resolution]",
        "/psa close 12345 Replaced the toner.",
        N_("Close a ticket, with a resolution."),
    ),
    CommandHelp("link", "/psa link", "/psa link", N_("Link your Slack account to your PSA user.")),
    CommandHelp(
        "subscribe",
        "/psa subscribe [customer=...] [priority>=high] [events=new,sla,escalation,alert]",
        "/psa subscribe customer=CUST-789 priority>=high events=new,sla",
        N_("Send ticket notifications to this channel."),
    ),
    CommandHelp(
        "unsubscribe", "/psa unsubscribe", "/psa unsubscribe", N_("Stop the ticket notifications in this channel.")
    ),
    CommandHelp("help", "/psa help", "/psa help", N_("This list.")),
)

SUBCOMMANDS: Final[tuple[str, ...]] = command_names(COMMANDS)


def command_list(locale: str) -> list[tuple[str, str, str]]:
    """(usage, translated description, example) for every ``/psa`` command, in the order of the help."""
    return [(c.usage, translate(c.description, locale), c.example) for c in COMMANDS]


def closest_command(word: str) -> str | None:
    """The subcommand the user probably meant ("subscibe" → "subscribe"), or None when nothing is close."""
    return closest(word, SUBCOMMANDS)


def help_message(locale: str, *, unknown: str | None = None, suggestion: str | None = None) -> Message:
    """The ``/psa help`` reply; with ``unknown``, it first says so and suggests ``suggestion`` (the subcommand)."""
    blocks: list[Block] = []
    lead = ""
    if unknown is not None:
        lead = _unknown_line(unknown, suggestion, locale)
        blocks.append(section(lead))
    blocks.append(header(translate("PSA commands", locale)))
    for usage, description, example in command_list(locale):
        blocks.append(section(f"`{escape(usage)}`\n{escape(description)}"))
        if example != usage:
            blocks.append(context(translate_mrkdwn(N_("Example: {example}"), locale, example=f"`{escape(example)}`")))
    text = lead or escape(translate("PSA commands", locale))
    return Message(fallback(text), blocks[: LIMITS.MESSAGE_BLOCKS])


def _unknown_line(unknown: str, suggestion: str | None, locale: str) -> str:
    cleaned = clip(unknown.replace("`", "'"), 50) or " "
    typed = f"`{escape(cleaned)}`"
    line = translate_mrkdwn(N_("Unknown command {command}."), locale, command=typed)
    if suggestion:
        line += " " + translate_mrkdwn(
            N_("Did you mean {suggestion}?"), locale, suggestion=f"`/psa {escape(clip(suggestion, 50))}`"
        )
    return ":grey_question: " + line


# --- errors, information, linking ---------------------------------------------------------------------------------


def error_message(template: str, params: dict[str, Any], locale: str) -> Message:
    """A domain error (``exc.template``, ``exc.params``) in the user's language; ``Label`` params are translated."""
    text = escape(translate(template, locale, **params))
    return Message(fallback(text), [section(f":warning: {text}")])


def info_message(text: str, locale: str, /, **params: object) -> Message:
    """A short reply; ``text`` is an English msgid (mark it with ``N_``), ``params`` are filled in as raw text."""
    escaped = escape(translate(text, locale, **params))
    return Message(fallback(escaped), [section(escaped)])


def link_instructions(locale: str, *, email_hint: str | None = None) -> Message:
    """How to link a Slack account to a PSA user; ``email_hint`` is the address that matched nobody."""
    if email_hint:
        lead = translate_mrkdwn(
            N_("No PSA user has the e-mail address {email}."), locale, email=f"*{escape(clip(email_hint, 200))}*"
        )
        how = escape(translate("Ask a PSA admin to add it to your user, then run /psa link again.", locale))
    else:
        lead = escape(translate("Your Slack account is not linked to a PSA user yet.", locale))
        how = escape(translate("Run /psa link: it finds your PSA user by your Slack e-mail address.", locale))
    return Message(fallback(lead), [section(f":link: {lead}\n{how}")])


def reaction_prompt(locale: str, *, channel: str, ts: str) -> Message:
    """After a 🎫 reaction: one button that opens the New ticket modal prefilled from the message (a reaction
    carries no trigger, so the modal needs this click)."""
    lead = escape(translate("Create a PSA ticket from this message?", locale))
    value = json.dumps({"channel": channel, "ts": ts}, separators=(",", ":"))
    action = button(translate("Create ticket", locale), ids.CREATE_FROM_REACTION, value=value, style="primary")
    return Message(fallback(lead), [section(f":ticket: {lead}", accessory=action)])


# --- /psa subscribe --------------------------------------------------------------------------------------------------


def subscription_summary(rule: RoutingRule, locale: str, *, customer_name: str | None = None) -> Message:
    """What this channel now hears about (the reply to ``/psa subscribe``)."""
    events = ", ".join(translate(CATEGORY_LABELS[c], locale) for c in Category if c in rule.categories)
    lead = translate_mrkdwn(
        N_("This channel receives: {events}."),
        locale,
        events=escape(events or translate("nothing yet", locale)),
    )
    lines = [
        f":bell: {lead}",
        customer_line(rule, customer_name, locale, escape, translate_mrkdwn),
        priority_line(rule, locale, escape, translate_mrkdwn),
    ]
    if rule.dispatchers:
        lines.append(escape(translate("Escalations that page the dispatchers always come here.", locale)))
    hint = escape(translate("Change it with /psa subscribe, stop it with /psa unsubscribe.", locale))
    return Message(fallback(lead), [section("\n".join(lines)), context(hint)])


def unsubscribed_message(removed: int, locale: str) -> Message:
    """The reply to ``/psa unsubscribe``."""
    if removed == 0:
        text = escape(translate("This channel had no ticket notifications.", locale))
    else:
        text = escape(
            translate_plural(
                "Removed {n} subscription; this channel gets no more ticket notifications.",
                "Removed {n} subscriptions; this channel gets no more ticket notifications.",
                removed,
                locale,
            )
        )
    return Message(fallback(text), [section(f":no_bell: {text}")])
