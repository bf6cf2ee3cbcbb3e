"""Teams chat text -> the request objects of the Slack grammar (``bot.slack.commands``), imported, not copied.

What differs in Teams, and only that lives here: the text arrives with the bot's ``<at>name</at>`` mention (in
channels), HTML entities and line breaks; ``new [title]`` is a command of its own (the form card); ``assign``
is not offered (it names a Slack user); ``subscribe`` takes one more option, ``audience=customer``, which marks
the conversation as customer-facing (customer-visible notifications only) — ``audience=internal`` clears it.
Usage strings in errors drop Slack's ``/psa`` prefix, since Teams users type the command alone.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from psa_chatops.bot.slack import commands as slack
from psa_chatops.bot.slack.commands import (
    Close,
    Help,
    Link,
    Mine,
    NewTicket,
    Note,
    Queue,
    Search,
    ShowAlert,
    ShowTicket,
    Sla,
    Subscribe,
    Unknown,
    Unsubscribe,
)
from psa_chatops.core.errors import N_, InvalidError

__all__ = [
    "Close",
    "CustomerSubscribe",
    "Help",
    "Link",
    "Mine",
    "NewTicket",
    "Note",
    "Queue",
    "Request",
    "Search",
    "ShowAlert",
    "ShowTicket",
    "Sla",
    "Subscribe",
    "Unknown",
    "Unsubscribe",
    "parse",
]

AT_MENTION = re.compile(r"<at[^>]*>.*?</at>", flags=re.IGNORECASE | re.DOTALL)
TAG = re.compile(r"<[^>]+>")
AUDIENCE = re.compile(r"audience=(customer|internal)", flags=re.IGNORECASE)


@dataclass(frozen=True)
class CustomerSubscribe:
    """``subscribe ...`` with the conversation's audience (None: leave it as it is)."""

    rule: Subscribe
    customer_facing: bool | None = None


Request = (
    Help
    | Unknown
    | ShowTicket
    | ShowAlert
    | NewTicket
    | Mine
    | Queue
    | Search
    | Sla
    | Note
    | Close
    | Link
    | CustomerSubscribe
    | Unsubscribe
)


def clean(text: str) -> str:
    """The command text of a Teams message: mentions, tags and entities out, whitespace folded."""
    without = TAG.sub(" ", AT_MENTION.sub(" ", text or ""))
    return " ".join(html.unescape(without).replace("\xa0", " ").split())


def parse(text: str) -> Request:
    words = clean(text)
    word, _, rest = words.partition(" ")
    name = word.lower()
    try:
        return _parse(name, word, rest, words)
    except InvalidError as exc:
        raise _without_slash(exc) from None


def _parse(name: str, word: str, rest: str, words: str) -> Request:
    if name == "new":
        return NewTicket(rest.strip())
    if name == "subscribe":
        return _subscribe(rest)
    if name == "assign":
        return Unknown(word, None)
    found = slack.parse(words)
    if isinstance(found, Unknown):
        return Unknown(found.word, None)  # the help card names the closest Teams command
    if isinstance(found, slack.Assign | Subscribe):  # both were answered above
        raise InvalidError(N_("Usage: {usage}"), usage=name)
    return found


def _subscribe(rest: str) -> CustomerSubscribe:
    audience: bool | None = None
    kept = []
    for token in rest.split():
        match = AUDIENCE.fullmatch(token)
        if match is None:
            kept.append(token)
        else:
            audience = match.group(1).lower() == "customer"
    rule = slack.parse(" ".join(["subscribe", *kept]))
    assert isinstance(rule, Subscribe)  # noqa: S101 - the Slack grammar's subscribe returns one
    return CustomerSubscribe(rule, audience)


def _without_slash(exc: InvalidError) -> InvalidError:
    params = {k: v.replace("/psa ", "") if isinstance(v, str) else v for k, v in exc.params.items()}
    if "usage" in params and "subscribe" in str(params["usage"]):
        params["usage"] = str(params["usage"]) + " [audience=customer|internal]"
    return InvalidError(exc.template, **params)
