"""The command catalogue's shape and the "did you mean" rule, shared by Slack's ``/psa`` and the Teams bot (each
channel lists its own usage strings; the descriptions are the same msgids)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from psa_chatops.cards.texts import clip
from psa_chatops.core.errors import N_
from psa_chatops.core.priorities import Priority
from psa_chatops.core.routing import Category, RoutingRule
from psa_chatops.i18n import translate

__all__ = ["CATEGORY_LABELS", "CommandHelp", "closest", "command_names", "customer_line", "priority_line"]


@dataclass(frozen=True)
class CommandHelp:
    name: str  # the first word, as typed after /psa or to the bot
    usage: str
    example: str
    description: str  # msgid


CATEGORY_LABELS: Final[Mapping[Category, str]] = {
    Category.NEW: N_("new tickets"),
    Category.ASSIGNMENT: N_("assignments"),
    Category.STATUS: N_("status changes"),
    Category.NOTE: N_("notes"),
    Category.PRIORITY: N_("priority changes"),
    Category.SLA: N_("SLA warnings and breaches"),
    Category.ESCALATION: N_("escalations"),
    Category.ALERT: N_("security alerts"),
    Category.APPOINTMENT: N_("on-site appointments"),
}


def command_names(commands: Sequence[CommandHelp]) -> tuple[str, ...]:
    """The distinct command names in the order of the help."""
    return tuple(dict.fromkeys(c.name for c in commands))


def closest(word: str, names: Sequence[str]) -> str | None:
    """The command the user probably meant ("subscibe" → "subscribe"), or None when nothing is close."""
    word = word.strip().lower()
    if not word:
        return None
    prefixed = [name for name in names if name.startswith(word)]
    if len(prefixed) == 1:
        return prefixed[0]
    matches = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    return matches[0] if matches else None


Escape = Callable[[str], str]


def customer_line(
    rule: RoutingRule, customer_name: str | None, locale: str, escape: Escape, fill: Callable[..., str]
) -> str:
    """Which customers a subscription covers, in the channel's markup (``fill`` is its template filler)."""
    if rule.customer_id is None:
        return escape(translate("Customers: all", locale))
    name = customer_name or rule.customer_id
    return str(fill(N_("Customer: {customer}"), locale, customer=escape(clip(name, 200))))


def priority_line(rule: RoutingRule, locale: str, escape: Escape, fill: Callable[..., str]) -> str:
    """From which priority on a subscription reports, in the channel's markup."""
    if rule.min_priority is None or rule.min_priority is Priority.LOW:
        return escape(translate("Priorities: all", locale))
    label = translate(rule.min_priority.label, locale)
    return str(fill(N_("Priority: {priority} or higher"), locale, priority=escape(label)))
