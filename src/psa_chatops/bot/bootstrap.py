"""The composition root for the use-cases: the bus with its handlers, reactions and unit-of-work factory."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.core.alert_triage import TriagePolicy
from psa_chatops.core.escalation import DEFAULT_RULES, EscalationRule
from psa_chatops.handlers.actors import resolve_actor, system_actor
from psa_chatops.handlers.messagebus import Deps, MessageBus, run_here
from psa_chatops.handlers.ports import Actor, AuditSlot, Clock, CommandContext, RecordedEvent
from psa_chatops.handlers.reactions import REACTIONS
from psa_chatops.handlers.registry import COMMAND_HANDLERS, new_orchestrators
from psa_chatops.storage.directory import DirectoryCache, SqlDirectory
from psa_chatops.storage.engine import read_connection
from psa_chatops.storage.sqlite_writer import SqliteWriter
from psa_chatops.storage.unit_of_work import sql_uow_factory


def build_bus(
    engine: AsyncEngine,
    clock: Clock,
    *,
    escalation_rules: tuple[EscalationRule, ...] = DEFAULT_RULES,
    after_commit: list[Callable[[list[RecordedEvent]], None]] | None = None,
    writer: SqliteWriter | None = None,
    alert_policy: TriagePolicy | None = None,
    calendar: str | None = None,
) -> MessageBus:
    """On SQLite, units of work run whole on the writer thread (see ``storage.sqlite_writer``)."""
    if writer is None and engine.dialect.name == "sqlite":
        writer = SqliteWriter(engine.url.render_as_string(hide_password=False))
    return MessageBus(
        uow_factory=sql_uow_factory(engine, clock, writer=writer),
        deps=Deps(
            clock=clock,
            escalation_rules=escalation_rules,
            alert_policy=alert_policy or TriagePolicy(),
            calendar=calendar,
        ),
        handlers=dict(COMMAND_HANDLERS),
        reactions=list(REACTIONS),
        after_commit=list(after_commit or []),
        orchestrators=new_orchestrators(),
        runner=writer.run if writer else run_here,
    )


def new_context(actor: Actor, *, correlation_id: str | None = None, audit: AuditSlot | None = None) -> CommandContext:
    return CommandContext(actor=actor, correlation_id=correlation_id or uuid.uuid4().hex, audit=audit)


def system_context(name: str) -> CommandContext:
    return new_context(system_actor(name))


async def actor_for(
    engine: AsyncEngine,
    clock: Clock,
    *,
    channel: str,
    external_id: str,
    locale: str | None = None,
    cache: DirectoryCache | None = None,
) -> Actor:
    """Resolve a channel identity on a read-only connection: on SQLite a write transaction here would make every
    chat request queue behind (and block) the writer thread."""
    async with read_connection(engine) as conn:
        directory = SqlDirectory(conn, cache)  # a shared, versioned cache: one small read per request
        return await resolve_actor(directory, channel=channel, external_id=external_id, locale=locale)
