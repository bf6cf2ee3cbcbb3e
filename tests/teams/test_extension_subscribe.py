"""The message extension (search, link unfurling) and subscribe/unsubscribe in a channel."""

from __future__ import annotations

from sqlalchemy import select

from psa_chatops.storage import tables as t
from psa_chatops.storage.teams_conversations import TeamsConversationStore
from tests.teams.conftest import CHANNEL, Teams, corpus, texts_of, valid


async def test_search_returns_result_cards(teams: Teams) -> None:
    await teams.open_ticket("VPN down")
    value = corpus("msteams_docs_examples/invoke_composeExtension_query.json")["value"]
    value["parameters"][0]["value"] = "VPN"
    status, body = await teams.invoke("composeExtension/query", value)
    assert status == 200
    results = body["composeExtension"]["attachments"]
    assert results
    assert "VPN down" in texts_of(results)
    for result in results:
        valid(result["content"])


async def test_query_link_unfurls_our_ticket_urls_only(teams: Teams) -> None:
    view = await teams.open_ticket("Printer on fire")
    status, body = await teams.invoke(
        "composeExtension/queryLink", {"url": f"https://psa.example.com/tickets/{view.number}"}
    )
    assert status == 200
    [result] = body["composeExtension"]["attachments"]
    assert "Printer on fire" in texts_of(valid(result["content"]))
    status, other = await teams.invoke("composeExtension/queryLink", {"url": "https://elsewhere.example/tickets/1"})
    assert status == 200
    assert other["composeExtension"]["attachments"] == []


async def test_subscribe_and_unsubscribe_a_channel(teams: Teams) -> None:
    card = valid(
        await teams.say(
            "<at>PSA</at> subscribe customer=CUST-789 priority>=high audience=customer",
            conversation=CHANNEL,
            conversation_type="channel",
        )
    )
    assert card["type"] == "AdaptiveCard"
    rules = t.table_of(t.RoutingRuleRow)
    async with teams.engine.connect() as conn:
        found = (await conn.execute(select(rules).where(rules.c.destination == f"teams:{CHANNEL}"))).all()
    assert len(found) == 1
    conversation = await TeamsConversationStore(teams.engine).get(CHANNEL)
    assert conversation is not None
    assert conversation.customer_facing
    await teams.say("subscribe events=new,sla", conversation=CHANNEL, conversation_type="channel")
    async with teams.engine.connect() as conn:
        assert len((await conn.execute(select(rules).where(rules.c.destination == f"teams:{CHANNEL}"))).all()) == 1
    valid(await teams.say("unsubscribe", conversation=CHANNEL, conversation_type="channel"))
    async with teams.engine.connect() as conn:
        assert not (await conn.execute(select(rules).where(rules.c.destination == f"teams:{CHANNEL}"))).all()


async def test_the_forms_customer_typeahead_finds_visible_customers(teams: Teams) -> None:
    value = {"queryText": "Müller", "dataset": "customers", "queryOptions": {"skip": 0, "top": 10}}
    status, body = await teams.invoke("application/search", value)
    assert status == 200
    assert body["type"] == "application/vnd.microsoft.search.searchResponse"
    assert [r["value"] for r in body["value"]["results"]] == ["CUST-789"]
    everyone = await teams.invoke("application/search", {**value, "queryText": ""})
    assert {r["value"] for r in everyone[1]["value"]["results"]} >= {"CUST-789", "CUST-100"}
    _, unknown = await teams.invoke("application/search", {**value, "dataset": "planets"})
    assert unknown["statusCode"] == 400
