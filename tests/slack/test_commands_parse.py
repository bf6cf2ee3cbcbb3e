"""``/psa`` grammar: pure parsing into request objects, with precise errors."""

from __future__ import annotations

import pytest

from psa_chatops.bot.slack import commands as c
from psa_chatops.core.errors import InvalidError
from psa_chatops.core.priorities import Priority
from psa_chatops.core.routing import Category
from psa_chatops.core.tickets_state import Status


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", c.Help()),
        ("help", c.Help()),
        ("ticket 12345", c.ShowTicket(12345)),
        ("ticket #7", c.ShowTicket(7)),
        ("ticket new Printer on fire", c.NewTicket("Printer on fire")),
        ("ticket new", c.NewTicket("")),
        ("mine", c.Mine()),
        ("queue", c.Queue()),
        ("queue CUST-789 open", c.Queue("CUST-789", Status.OPEN)),
        ("queue in_progress", c.Queue(None, Status.IN_PROGRESS)),
        ("search vpn down", c.Search("vpn down")),
        ("sla", c.Sla()),
        ("assign 12 <@U123ABC|alice>", c.Assign(12, "U123ABC")),
        ("assign 12 <@W999>", c.Assign(12, "W999")),
        ("note 12 rebooted the box", c.Note(12, "rebooted the box")),
        ("note 12 --public we are on it", c.Note(12, "we are on it", public=True)),
        ("close 12 replaced toner", c.Close(12, "replaced toner")),
        ("close 12", c.Close(12, "")),
        ("link", c.Link()),
        ("subscribe", c.Subscribe()),
        (
            "subscribe customer=CUST-789 priority>=high events=new,sla,alert",
            c.Subscribe("CUST-789", Priority.HIGH, frozenset({Category.NEW, Category.SLA, Category.ALERT})),
        ),
        ("unsubscribe", c.Unsubscribe()),
        ("alert sentinelone/1789", c.ShowAlert(provider="sentinelone", alert_id="1789")),
        ("alert Defender/da_1/x", c.ShowAlert(provider="defender", alert_id="da_1/x")),  # ids may hold slashes
        ("alert 12345", c.ShowAlert(number=12345)),
        ("alert #7", c.ShowAlert(number=7)),
    ],
)
def test_parses(text: str, expected: c.Request) -> None:
    assert c.parse(text) == expected


def test_unknown_subcommand_suggests_the_closest() -> None:
    assert c.parse("tikcet 5") == c.Unknown("tikcet", "ticket")
    assert c.parse("xyzzy") == c.Unknown("xyzzy", None)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("ticket abc", "is not a ticket number"),
        ("ticket", "Missing arguments"),
        ("assign 12 alice", "Mention the technician"),
        ("note 12", "The note is empty"),
        ("note 12 --public", "The note is empty"),
        ("search", "Missing arguments"),
        ("mine now", "takes no arguments"),
        ("subscribe priority>=urgent", "Unknown priority"),
        ("subscribe events=fire", "Unknown event"),
        ("subscribe colour=red", "Unknown option"),
        ("queue a b c", "Usage"),
        ("alert", "Missing arguments"),
        ("alert sentinelone/", "names no alert"),
        ("alert /1789", "names no alert"),
        ("alert sentinelone/1 extra", "Usage"),
        ("alert ransomware", "is not a ticket number"),
    ],
)
def test_bad_arguments_are_precise(text: str, fragment: str) -> None:
    with pytest.raises(InvalidError) as caught:
        c.parse(text)
    assert fragment in caught.value.template
