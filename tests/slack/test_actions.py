"""Clicks on ticket cards: each runs as the clicking technician and replaces the card in place."""

from __future__ import annotations

import json
from typing import Any

from psa_chatops.cards.slack import ids
from tests.slack.conftest import Slack, block_actions, limits
from tests.slack.test_commands import current


async def click(slack: Slack, action_id: str, number: int, version: int, **extra: Any) -> dict[str, Any]:
    payload = block_actions(slack.fake, action_id=action_id, value=ids.action_value(number, version), **extra)
    response = await slack.interaction(payload)
    assert response.status == 200
    await slack.settle()
    return payload


def replaced(slack: Slack) -> list[dict[str, Any]]:
    return [c.args for c in slack.calls("response_url") if c.args.get("replace_original") is True]


async def test_assign_to_me(slack: Slack) -> None:
    view = await slack.open_ticket()
    await click(slack, ids.ASSIGN_TO_ME, view.number, view.version, user="UTOM")
    assert (await current(slack, view.number)).assignee_id == "tom"
    (card,) = replaced(slack)
    limits(card)
    assert "Tom Technician" in json.dumps(card)


async def test_status_select_uses_the_block_id(slack: Slack) -> None:
    view = await slack.open_ticket()
    payload = block_actions(
        slack.fake,
        action_id=ids.SET_STATUS,
        block_id=ids.action_value(view.number, view.version),
        type="static_select",
        selected_option={"value": "in_progress"},
    )
    await slack.interaction(payload)
    await slack.settle()
    assert (await current(slack, view.number)).status == "in_progress"
    assert len(replaced(slack)) == 1


async def test_escalate(slack: Slack) -> None:
    view = await slack.open_ticket()
    await click(slack, ids.ESCALATE, view.number, view.version)
    assert (await current(slack, view.number)).escalation_level == 1


async def test_double_click_escalates_once(slack: Slack) -> None:
    view = await slack.open_ticket()
    await click(slack, ids.ESCALATE, view.number, view.version)
    await click(slack, ids.ESCALATE, view.number, view.version)
    assert (await current(slack, view.number)).escalation_level == 1


async def test_add_note_and_close_open_their_modals(slack: Slack) -> None:
    view = await slack.open_ticket()
    await click(slack, ids.ADD_NOTE, view.number, view.version)
    await click(slack, ids.CLOSE, view.number, view.version)
    opened = [c.args["view"] for c in slack.calls("views.open")]
    for modal in opened:
        limits(modal)
    assert [m["callback_id"] for m in opened] == [ids.ADD_NOTE_MODAL, ids.CLOSE_MODAL]
    assert json.loads(opened[0]["private_metadata"])["number"] == view.number


async def test_open_in_psa_is_only_acked(slack: Slack) -> None:
    view = await slack.open_ticket()
    await click(slack, ids.OPEN_IN_PSA, view.number, view.version)
    assert slack.fake.state.calls == []


async def test_share_posts_the_card_in_the_channel(slack: Slack) -> None:
    view = await slack.open_ticket()
    await click(slack, ids.SHARE, view.number, view.version)
    (posted,) = slack.calls("chat.postMessage")
    assert posted.args["channel"] == "C111"
    limits({"text": posted.args["text"], "blocks": posted.blocks()})
    assert "ticket.share" not in json.dumps(posted.blocks())


async def test_stale_card_still_acts_when_nothing_conflicts(slack: Slack) -> None:
    view = await slack.open_ticket()
    await slack.command(f"note {view.number} moved on")  # version changes
    await click(slack, ids.ESCALATE, view.number, view.version)
    assert (await current(slack, view.number)).escalation_level == 1


async def test_stale_card_that_conflicts_gets_a_note_and_the_fresh_card(slack: Slack) -> None:
    view = await slack.open_ticket()
    await slack.command(f"assign {view.number} <@UDORA|dora>")
    await click(slack, ids.ASSIGN_TO_ME, view.number, view.version, user="UTOM")
    assert (await current(slack, view.number)).assignee_id == "dora"
    notes = [c.args for c in slack.calls("response_url") if c.args.get("replace_original") is False]
    assert len(notes) == 1
    assert len(replaced(slack)) == 1


async def test_unlinked_user_is_told_how_to_link(slack: Slack) -> None:
    view = await slack.open_ticket()
    await click(slack, ids.ASSIGN_TO_ME, view.number, view.version, user="UNEW")
    (reply,) = slack.calls("response_url")
    assert "/psa link" in json.dumps(reply.args)
    assert (await current(slack, view.number)).assignee_id is None
