"""Shortcuts and the Events API: ticket from a message (its thread's replies become notes), Home, unfurls,
and Slack's retries (``X-Slack-Retry-Num``) that must not add anything twice."""

from __future__ import annotations

import json
from typing import Any

from psa_chatops.cards.slack import ids
from tests.slack.conftest import Slack, corpus, event_callback, limits, view_submission
from tests.slack.test_commands import current
from tests.slack.test_modals import new_ticket_values, submit


def message_shortcut() -> dict[str, Any]:
    payload = json.loads(corpus("shortcut_message_action.json").read_text())
    payload.update(callback_id=ids.CREATE_FROM_MESSAGE, response_url=None)
    payload["user"] = {"id": "UALICE", "name": "alice"}
    payload["team"] = {"id": "T0PSA", "domain": "psa-test"}
    payload["channel"] = {"id": "C0HELP", "name": "helpdesk"}
    payload["message"]["text"] = "Outlook crashes on start\nsince the update this morning"
    return payload


async def ticket_from_message(slack: Slack) -> int:
    payload = message_shortcut()
    assert (await slack.interaction(payload)).status == 200
    await slack.settle()
    (opened,) = slack.calls("views.open")
    modal = opened.args["view"]
    limits(modal)
    assert "Outlook crashes on start" in json.dumps(modal)
    assert "psa-test.slack.com/archives/C0HELP" in json.dumps(modal)
    values = new_ticket_values(title="Outlook crashes on start")
    await submit(slack, view_submission(ids.NEW_TICKET_MODAL, values, private_metadata=modal["private_metadata"]))
    (posted,) = slack.calls("chat.postMessage")
    assert posted.args["thread_ts"] == payload["message"]["ts"]
    return int(posted.args["text"].split()[0].lstrip("#"))


async def test_message_shortcut_creates_a_ticket_in_the_thread(slack: Slack) -> None:
    number = await ticket_from_message(slack)
    assert (await current(slack, number)).title == "Outlook crashes on start"


async def test_thread_reply_becomes_a_note_once_despite_retries(slack: Slack) -> None:
    number = await ticket_from_message(slack)
    root = message_shortcut()["message"]["ts"]
    event = {"type": "message", "channel": "C0HELP", "user": "UDORA", "text": "Rolled back KB5031", "ts": "2.0"}
    body = json.dumps(event_callback({**event, "thread_ts": root}, event_id="EvREPLY"))
    assert (await slack.post(body)).status == 200
    await slack.settle()
    assert (
        await slack.post(body, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    ).status == 200
    await slack.settle()
    notes = (await current(slack, number)).notes
    assert [(n.body, n.visibility, n.author) for n in notes] == [("Rolled back KB5031", "internal", "Dora Dispatcher")]


async def test_replies_elsewhere_and_bot_messages_are_ignored(slack: Slack) -> None:
    number = await ticket_from_message(slack)
    root = message_shortcut()["message"]["ts"]
    other = {"type": "message", "channel": "C0HELP", "user": "UDORA", "text": "x", "ts": "3.0", "thread_ts": "9.9"}
    bot = {"type": "message", "channel": "C0HELP", "bot_id": "B1", "text": "y", "ts": "4.0", "thread_ts": root}
    for i, event in enumerate((other, bot)):
        await slack.post(json.dumps(event_callback(event, event_id=f"Ev{i}")))
    await slack.settle()
    assert (await current(slack, number)).notes == ()


async def test_app_home_shows_my_tickets(slack: Slack) -> None:
    view = await slack.open_ticket("Home ticket")
    await slack.command(f"assign {view.number} <@UALICE|alice>")
    body = event_callback({"type": "app_home_opened", "user": "UALICE", "tab": "home", "channel": "D1"})
    await slack.post(json.dumps(body))
    await slack.settle()
    (published,) = slack.calls("views.publish")
    limits(published.args["view"])
    assert published.args["user_id"] == "UALICE"
    assert "Home ticket" in json.dumps(published.args["view"])


async def test_app_home_for_an_unlinked_user_explains_linking(slack: Slack) -> None:
    body = event_callback({"type": "app_home_opened", "user": "UNEW", "tab": "home", "channel": "D1"})
    await slack.post(json.dumps(body))
    await slack.settle()
    (published,) = slack.calls("views.publish")
    assert "/psa link" in json.dumps(published.args["view"])


async def test_link_shared_unfurls_our_ticket_urls(slack: Slack) -> None:
    view = await slack.open_ticket("Unfurl me")
    url = f"https://psa.example.com/tickets/{view.number}"
    event = {
        "type": "link_shared",
        "channel": "C0CHAN",
        "user": "UALICE",
        "message_ts": "5.0",
        "links": [{"domain": "psa.example.com", "url": url}, {"domain": "example.org", "url": "https://example.org/x"}],
    }
    await slack.post(json.dumps(event_callback(event, event_id="EvLINK")))
    await slack.settle()
    (call,) = slack.calls("chat.unfurl")
    unfurls = call.args["unfurls"]
    unfurls = json.loads(unfurls) if isinstance(unfurls, str) else unfurls
    assert list(unfurls) == [url]
    assert "Unfurl me" in json.dumps(unfurls)
    limits(unfurls[url], surface="unfurl")


async def test_global_shortcut_opens_the_new_ticket_modal(slack: Slack) -> None:
    payload = json.loads(corpus("shortcut_global.json").read_text())
    payload.update(callback_id=ids.NEW_TICKET_GLOBAL)
    payload["user"] = {"id": "UDORA", "name": "dora", "team_id": "T0PSA"}
    payload["team"] = {"id": "T0PSA", "domain": "psa-test"}
    assert (await slack.interaction(payload)).status == 200
    await slack.settle()
    (opened,) = slack.calls("views.open")
    limits(opened.args["view"])
    assert opened.args["view"]["callback_id"] == ids.NEW_TICKET_MODAL


async def test_a_mention_answers_in_its_thread_once(slack: Slack) -> None:
    view = await slack.open_ticket("Mention me")
    event = {
        "type": "app_mention",
        "channel": "C0CHAN",
        "user": "UALICE",
        "ts": "7.0",
        "text": f"<@U0BOT> ticket {view.number}",
    }
    body = json.dumps(event_callback(event, event_id="EvMENTION"))
    await slack.post(body)
    await slack.post(body, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    await slack.settle()
    (posted,) = slack.calls("chat.postMessage")
    assert posted.args["thread_ts"] == "7.0"
    assert "Mention me" in json.dumps(posted.args)
    assert posted.args.get("response_type") is None
    blocks = posted.args["blocks"]
    limits({"text": posted.args["text"], "blocks": json.loads(blocks) if isinstance(blocks, str) else blocks})


async def test_the_ticket_reaction_offers_a_prefilled_ticket(make_slack: Any) -> None:
    slack = await make_slack(slack_ticket_reaction=True)
    slack.fake.state.add_message("C0HELP", "8.0", "VPN drops every hour\nsince Monday")
    reaction = {
        "type": "reaction_added",
        "user": "UALICE",
        "reaction": "ticket",
        "item": {"type": "message", "channel": "C0HELP", "ts": "8.0"},
        "event_ts": "9.0",
    }
    await slack.post(json.dumps(event_callback(reaction, event_id="EvREACT")))
    await slack.post(json.dumps(event_callback({**reaction, "reaction": "thumbsup"}, event_id="EvTHUMB")))
    await slack.settle()
    (prompt,) = slack.calls("chat.postEphemeral")
    assert prompt.args["user"] == "UALICE"
    blocks = prompt.args["blocks"]
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    limits({"text": prompt.args["text"], "blocks": blocks})
    button = blocks[0]["accessory"]
    assert button["action_id"] == ids.CREATE_FROM_REACTION
    click = {
        "type": "block_actions",
        "user": {"id": "UALICE"},
        "team": {"id": "T0PSA"},
        "channel": {"id": "C0HELP"},
        "trigger_id": "111.222.abc",
        "actions": [{"action_id": ids.CREATE_FROM_REACTION, "value": button["value"], "type": "button"}],
    }
    assert (await slack.interaction(click)).status == 200
    await slack.settle()
    (opened,) = slack.calls("views.open")
    assert "VPN drops every hour" in json.dumps(opened.args["view"])


async def test_the_ticket_reaction_is_off_by_default(slack: Slack) -> None:
    event = {"type": "reaction_added", "user": "UALICE", "reaction": "ticket", "item": {"type": "message"}}
    await slack.post(json.dumps(event_callback(event, event_id="EvOFF")))
    await slack.settle()
    assert slack.calls("chat.postEphemeral") == []
