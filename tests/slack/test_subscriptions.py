"""``/psa subscribe`` / ``unsubscribe``: one enabled routing rule for the channel's ``slack:<id>`` destination."""

from __future__ import annotations

import json

from psa_chatops.core.priorities import Priority
from psa_chatops.core.routing import Category
from psa_chatops.storage import directory as store
from psa_chatops.storage.engine import read_connection
from tests.slack.conftest import Slack, limits


async def rules(slack: Slack, channel: str = "C0123ABCD") -> list[store.StoredRoutingRule]:
    async with read_connection(slack.engine) as conn:
        listing = store.Listing(equals={"destination": f"slack:{channel}"})
        return await store.page(conn, store.ROUTING_RULES, listing)


async def test_subscribe_creates_then_updates_the_channels_rule(slack: Slack) -> None:
    answer = await slack.command("subscribe")
    limits(answer)
    (rule,) = await rules(slack)
    assert rule.rule.categories == frozenset(Category)
    answer = await slack.command("subscribe customer=Müller priority>=high events=new,sla")
    limits(answer)
    (rule,) = await rules(slack)
    assert (rule.rule.customer_id, rule.rule.min_priority) == ("CUST-789", Priority.HIGH)
    assert rule.rule.categories == frozenset({Category.NEW, Category.SLA})


async def test_scoped_technician_cannot_subscribe_to_every_customer(slack: Slack) -> None:
    from psa_chatops.bot import keys
    from psa_chatops.storage import directory_writer as w

    async with slack.engine.begin() as conn:
        now = slack.client.app[keys.CLOCK].now()
        await w.link_actor(conn, channel="slack", external_id="USAM", kind="technician", target_id="sam", now=now)
    answer = await slack.command("subscribe", user="USAM")
    assert await rules(slack) == []
    assert "customers" in json.dumps(answer)


async def test_unsubscribe_removes_the_rule(slack: Slack) -> None:
    await slack.command("subscribe")
    answer = await slack.command("unsubscribe")
    limits(answer)
    assert await rules(slack) == []
    again = await slack.command("unsubscribe")
    assert again != answer
