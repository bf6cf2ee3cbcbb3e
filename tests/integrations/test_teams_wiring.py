"""``build_dispatcher`` picks the Teams notifier from the settings, and ``psa worker`` delivers to the (fake) Bot
Connector: a bus command writes outbox rows, the Dispatcher hands them to the notifier, the connector gets a root
card and a reply in its reply chain, and shutdown closes the notifier after its pending root update."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from pytest_aiohttp import AiohttpServer
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot.bootstrap import actor_for, build_bus, new_context
from psa_chatops.bot.lifecycle import build_dispatcher
from psa_chatops.bot.settings import Settings
from psa_chatops.core import commands as c
from psa_chatops.core.routing import Category, RoutingRule
from psa_chatops.integrations.recorder import RecordingNotifier
from psa_chatops.integrations.teams_notifier import TeamsNotifier, TeamsWorkflowsNotifier
from psa_chatops.storage.outbox import OutboxStore
from tests.cards.teams_limits import assert_valid_card
from tests.conftest import FrozenClock
from tests.fakes.bot_connector import start_fake_connector
from tests.fixtures_directory import seed_directory
from tests.integrations.chat_support import run_worker_until, worker_database
from tests.integrations.test_teams_notifier import OPS, OPS_DEST, seed_conversation

DESTINATION = "teams:19:ops@thread.tacv2"


async def test_build_dispatcher_registers_the_configured_teams_notifier(
    sqlite_engine: AsyncEngine, http_session: aiohttp.ClientSession, clock: FrozenClock
) -> None:
    store = OutboxStore(sqlite_engine)

    bot = Settings(teams_app_id="app-id", teams_app_password="secret", teams_tenant_id="tenant")
    assert isinstance(
        build_dispatcher(bot, store, http_session, clock, engine=sqlite_engine).notifiers.for_destination(DESTINATION),
        TeamsNotifier,
    )
    local = Settings(teams_connector_url="http://127.0.0.1:3978/")
    assert isinstance(
        build_dispatcher(local, store, http_session, clock, engine=sqlite_engine).notifiers.for_destination(
            DESTINATION
        ),
        TeamsNotifier,
    )
    hook = Settings(teams_workflows_url="https://example.logic.azure.com/workflows/1/triggers/manual/run")
    assert isinstance(
        build_dispatcher(hook, store, http_session, clock).notifiers.for_destination(DESTINATION),
        TeamsWorkflowsNotifier,
    )
    assert "teams" not in build_dispatcher(Settings(), store, http_session, clock).notifiers.kinds()
    sandbox = Settings(teams_connector_url="http://127.0.0.1:3978/", sandbox=True)
    recorded = build_dispatcher(sandbox, store, http_session, clock, engine=sqlite_engine)
    assert isinstance(recorded.notifiers.for_destination(DESTINATION), RecordingNotifier)
    with pytest.raises(ValueError, match="engine"):
        build_dispatcher(local, store, http_session, clock)
    for dispatcher in (bot, local, hook):  # nothing was opened: closing is cheap
        notifier = build_dispatcher(dispatcher, store, http_session, clock, engine=sqlite_engine).notifiers
        made = notifier.for_destination(DESTINATION)
        assert isinstance(made, TeamsNotifier | TeamsWorkflowsNotifier)
        await made.close()


async def test_with_credentials_a_foreign_service_url_never_gets_the_token(
    sqlite_engine: AsyncEngine, http_session: aiohttp.ClientSession, clock: FrozenClock
) -> None:
    await seed_conversation(sqlite_engine, OPS, "https://attacker.example.com/")
    await seed_directory(sqlite_engine, rules=(RoutingRule(0, OPS_DEST, frozenset(Category)),))
    tom = new_context(await actor_for(sqlite_engine, clock, channel="test", external_id="tom"))
    await build_bus(sqlite_engine, clock).handle(c.OpenTicket(title="Printer", customer_id="CUST-789"), tom)
    settings = Settings(teams_app_id="app-id", teams_app_password="secret", teams_tenant_id="tenant")
    dispatcher = build_dispatcher(settings, OutboxStore(sqlite_engine), http_session, clock, engine=sqlite_engine)
    notifier = dispatcher.notifiers.for_destination(OPS_DEST)
    assert isinstance(notifier, TeamsNotifier)
    try:
        await dispatcher.run_once()
    finally:
        await notifier.close()
    assert dispatcher.stats.dead == 1  # refused before any token was asked for (msal would fail here anyway)


async def test_end_to_end_a_command_reaches_the_connector_as_a_root_and_a_reply(
    tmp_path: Path, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_fake_connector(aiohttp_server)

    async def installed(engine: AsyncEngine) -> None:  # as the inbound adapter stores it on install
        await seed_conversation(engine, OPS, fake.service_url)

    url = await worker_database(tmp_path, OPS_DEST, installed)
    settings = Settings(
        database_url=url,
        dispatcher_poll_seconds=0.05,
        sla_sweep_seconds=3600,
        log_format="text",
        teams_connector_url=fake.service_url,
    )
    await run_worker_until(settings, lambda: len(fake.state.of("send")) == 2)
    [root] = fake.state.roots(OPS)
    [reply] = fake.state.thread(OPS, fake.state.activity_id(root))
    assert reply.body["replyToId"] == fake.state.activity_id(root)
    assert {call.authorization for call in fake.state.calls} == {None}  # anonymous without credentials
    assert len(fake.state.of("update")) == 1  # the shutdown grace let the pending root update finish
    for call in fake.state.calls:
        for card in call.cards():
            assert_valid_card(card)
