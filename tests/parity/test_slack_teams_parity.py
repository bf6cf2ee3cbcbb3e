"""Channel parity: one scenario driven through Slack and through Teams leaves the same event log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytest_aiohttp import AiohttpClient, AiohttpServer

from psa_chatops.bot import keys
from psa_chatops.bot.app import create_app
from psa_chatops.bot.bootstrap import actor_for, new_context
from psa_chatops.cards.slack import ids as slack_ids
from psa_chatops.cards.teams import ids as teams_ids
from psa_chatops.core import events as ev
from psa_chatops.handlers import queries
from psa_chatops.handlers.ports import RecordedEvent
from tests.conftest import FrozenClock
from tests.fakes.bot_connector import start_fake_connector
from tests.fakes.slack_api import start_fake_slack
from tests.fixtures_directory import seed_directory
from tests.slack import conftest as slack_harness
from tests.slack.conftest import Slack, block_actions, text_value, view_submission
from tests.teams import conftest as teams_harness
from tests.teams.conftest import Teams, texts_of

NOTE = "Checked the cable"
RESOLUTION = "Replaced the cable"
ACTOR = "technician:alice"


async def both_channels(
    aiohttp_client: AiohttpClient, aiohttp_server: AiohttpServer, tmp_path: Path, clock: FrozenClock
) -> tuple[Slack, Teams]:
    """One real service (SQLite) with Slack on the fake Web API and Teams on the fake Bot Connector; UALICE and
    AAD-ALICE are both linked to technician ``alice``."""
    fake_slack = await start_fake_slack(aiohttp_server)
    connector = await start_fake_connector(aiohttp_server)
    settings = slack_harness.settings_for(tmp_path, fake_slack, sandbox=True)
    client = await aiohttp_client(create_app(settings, clock=clock))
    engine = client.app[keys.ENGINE]
    await seed_directory(engine)
    await slack_harness.link_users(engine, clock)
    await teams_harness.link_users(engine, clock)
    return Slack(client, fake_slack), Teams(client, connector)


async def version_of(slack: Slack, number: int) -> int:
    app = slack.client.app
    actor = await actor_for(slack.engine, app[keys.CLOCK], channel="slack", external_id="UALICE")
    now = app[keys.CLOCK].now()
    view = await app[keys.BUS].read(lambda uow: queries.show_ticket(number, uow=uow, now=now), new_context(actor))
    return int(view.version)


async def history(slack: Slack, number: int) -> list[RecordedEvent]:
    app = slack.client.app
    actor = await actor_for(slack.engine, app[keys.CLOCK], channel="slack", external_id="UALICE")
    found: list[RecordedEvent] = await app[keys.BUS].read(
        lambda uow: queries.ticket_history(number, uow=uow), new_context(actor)
    )
    return found


def normalised(log: list[RecordedEvent]) -> list[dict[str, Any]]:
    """What must match across channels: type, order (version), actor and payload; not the ticket number, ids,
    timestamps or correlation."""
    rows = []
    for record in log:
        payload = ev.to_payload(record.event)
        payload.pop("note_id", None)  # a database-wide sequence
        rows.append({"type": record.event.type, "version": record.version, "actor": record.actor, **payload})
    return rows


def radio(block_action: tuple[str, str], value: str) -> dict[str, Any]:
    block, action = block_action
    return {block: {action: {"type": "radio_buttons", "selected_option": {"value": value}}}}


async def drive_slack(slack: Slack, number: int) -> None:
    async def click(action_id: str) -> None:
        value = slack_ids.action_value(number, await version_of(slack, number))
        response = await slack.interaction(block_actions(slack.fake, action_id=action_id, value=value))
        assert response.status == 200, await response.text()
        await slack.settle()

    async def submit(callback_id: str, values: dict[str, Any]) -> None:
        (modal,) = [c.args["view"] for c in slack.calls("views.open") if c.args["view"]["callback_id"] == callback_id]
        # Slack gives each opened view its own id (the corpus payload's id would make the second submission a repeat)
        view_id = f"V-{callback_id}-{number}"
        payload = view_submission(callback_id, values, private_metadata=modal["private_metadata"], id=view_id)
        response = await slack.interaction(payload)
        assert response.status == 200, await response.text()
        assert (await response.json() if response.content_length else {}) == {}
        await slack.settle()

    shown = await slack.command(f"ticket {number}")
    assert f"#{number}" in json.dumps(shown, ensure_ascii=False)
    await click(slack_ids.ASSIGN_TO_ME)
    await click(slack_ids.ADD_NOTE)
    await submit(
        slack_ids.ADD_NOTE_MODAL,
        {**text_value(slack_ids.NOTE_BODY, NOTE), **radio(slack_ids.NOTE_VISIBILITY, "internal")},
    )
    await click(slack_ids.CLOSE)
    await submit(slack_ids.CLOSE_MODAL, text_value(slack_ids.RESOLUTION, RESOLUTION))


async def drive_teams(teams: Teams, slack: Slack, number: int) -> None:
    async def execute(verb: str, **inputs: str) -> None:
        data = {"number": number, "version": await version_of(slack, number), **inputs}
        status, body = await teams.execute(verb, data)
        assert status == 200, body
        assert body["statusCode"] == 200, body

    assert f"#{number}" in texts_of(await teams.say(f"ticket {number}"))
    await execute(teams_ids.ASSIGN_TO_ME)
    await execute(teams_ids.ADD_NOTE, **{teams_ids.NOTE_BODY: NOTE, teams_ids.NOTE_VISIBILITY: "internal"})
    await execute(teams_ids.CLOSE, **{teams_ids.RESOLUTION: RESOLUTION})


async def test_show_assign_note_close_leave_the_same_log_in_slack_and_teams(
    aiohttp_client: AiohttpClient, aiohttp_server: AiohttpServer, tmp_path: Path, clock: FrozenClock
) -> None:
    """Show, assign to me, internal note, close: the same technician gets the same events in both channels."""
    slack, teams = await both_channels(aiohttp_client, aiohttp_server, tmp_path, clock)
    from_slack = (await slack.open_ticket("Printer offline")).number
    from_teams = (await teams.open_ticket("Printer offline")).number

    await drive_slack(slack, from_slack)
    await drive_teams(teams, slack, from_teams)

    slack_log, teams_log = normalised(await history(slack, from_slack)), normalised(await history(slack, from_teams))
    assert slack_log == teams_log
    assert [(e["type"], e["actor"]) for e in slack_log] == [
        ("TicketOpened", ACTOR),
        ("TicketAssigned", ACTOR),
        ("TicketStatusChanged", ACTOR),
        ("NoteAdded", ACTOR),
        ("TicketStatusChanged", ACTOR),
        ("FirstResponseMet", ACTOR),  # what closing records besides the status change
        ("SlaPaused", ACTOR),
    ]
    _, assigned, _, note, closed, _, _ = slack_log
    assert assigned["assignee_id"] == "alice"
    assert (note["body"], note["visibility"], note["author_id"]) == (NOTE, "internal", ACTOR)
    assert (closed["to_status"], closed["resolution"]) == ("closed", RESOLUTION)
