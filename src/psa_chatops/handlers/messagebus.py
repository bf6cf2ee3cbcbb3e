"""The message bus: a command goes to exactly one handler inside a fresh unit of work; the events it committed go
to the reactions, whose follow-up commands carry the event as their cause.

A ``ConcurrencyError`` (another writer appended first) re-runs the handler on fresh state, a few times.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from psa_chatops.core.alert_triage import TriagePolicy
from psa_chatops.core.commands import Command
from psa_chatops.core.errors import ConcurrencyError
from psa_chatops.core.escalation import DEFAULT_RULES, EscalationRule
from psa_chatops.handlers.ports import Clock, CommandContext, RecordedEvent, UnitOfWork, UnitOfWorkFactory

logger = logging.getLogger(__name__)
MAX_CONCURRENCY_RETRIES = 5

Handler = Callable[[Any, UnitOfWork, "Deps"], Coroutine[Any, Any, Any]]
Orchestrator = Callable[[Any, CommandContext, "MessageBus"], Awaitable[Any]]
Reaction = Callable[[RecordedEvent, "Deps"], list[Command]]
Runner = Callable[[Callable[[], Coroutine[Any, Any, Any]]], Awaitable[Any]]


async def run_here(make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    return await make()


@dataclass
class Deps:
    """What handlers need besides the unit of work. Handlers never get the bus: orchestrators do."""

    clock: Clock
    escalation_rules: tuple[EscalationRule, ...] = DEFAULT_RULES
    alert_policy: TriagePolicy = field(default_factory=TriagePolicy)
    calendar: str | None = None  # the Microsoft 365 calendar appointments sync to (None: the sync is off)


@dataclass
class MessageBus:
    uow_factory: UnitOfWorkFactory
    deps: Deps
    handlers: dict[type[Command], Handler]
    reactions: list[Reaction]
    after_commit: list[Callable[[list[RecordedEvent]], None]] = field(default_factory=list)
    orchestrators: dict[type[Command], Orchestrator] = field(default_factory=dict)
    runner: Runner = run_here

    async def handle(self, command: Command, context: CommandContext) -> Any:
        orchestrate = self.orchestrators.get(type(command))
        if orchestrate is not None:
            return await orchestrate(command, context, self)
        result, events = await self.execute(command, context)
        self.announce(events)
        await self.react(events, context)
        return result

    async def execute(self, command: Command, context: CommandContext) -> tuple[Any, list[RecordedEvent]]:
        """Run the command's handler (no orchestrator, no reactions): its result and the events it committed.
        For orchestrators that settle the events themselves, e.g. a batch of several requests."""
        handler = self.handlers[type(command)]
        attempt = 1
        while True:
            uow = self.uow_factory(context)
            try:
                result = await self.runner(partial(handler, command, uow, self.deps))
                return result, uow.collected_events()
            except ConcurrencyError:
                if attempt == MAX_CONCURRENCY_RETRIES:
                    raise
                logger.info("concurrent write on %s, retry %d", type(command).__name__, attempt)
                attempt += 1

    async def read(self, query: Callable[[UnitOfWork], Coroutine[Any, Any, Any]], context: CommandContext) -> Any:
        """Run a read-side query the way commands run (on SQLite's writer thread when there is one)."""
        uow = self.uow_factory(context)
        return await self.runner(lambda: query(uow))

    def announce(self, events: list[RecordedEvent]) -> None:
        """Tell the after-commit hooks (caches, live views) what was committed."""
        if events:
            for hook in self.after_commit:
                hook(events)

    async def react(self, events: list[RecordedEvent], context: CommandContext) -> None:
        """Run the reactions' follow-up commands for committed events, caused by them, in ``context``'s chain."""
        from psa_chatops.handlers.actors import system_actor

        for record in events:
            for reaction in self.reactions:
                for follow_up in reaction(record, self.deps):
                    cause = replace(
                        context, actor=system_actor(reaction.__name__), causation_id=record.event_id, audit=None
                    )
                    await self.handle(follow_up, cause)
