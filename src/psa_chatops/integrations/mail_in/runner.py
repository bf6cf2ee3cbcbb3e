"""Runs one mailbox: connect, take every pending message (fetch -> intake commits -> mark), wait for news,
repeat; on failure close, back off with jitter and reconnect. A circuit breaker per mailbox (``mail:<label>``)
stretches the pause while a server keeps failing and shows up in ``/readyz`` like the outbox destinations.

The order inside ``drain`` is the exactly-once rule: a message is marked only after ``MailIntake.take`` returned,
i.e. after its ticket or note and its key were committed. A message the domain refuses (``DomainError``) is
logged and left unmarked for an admin to look at; it is not retried in this round.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from psa_chatops.core.errors import DomainError
from psa_chatops.handlers.mail_intake import IntakeView, Outcome
from psa_chatops.integrations.mail_in.config import MailboxConfig
from psa_chatops.integrations.mail_in.graph import GraphMailReader
from psa_chatops.integrations.mail_in.imap import ImapReader
from psa_chatops.integrations.mail_in.intake import MailIntake
from psa_chatops.integrations.mail_in.pop3 import Pop3Reader
from psa_chatops.integrations.mail_in.readers import MailboxError, MailboxReader
from psa_chatops.integrations.resilience import BreakerBoard, RetryPolicy
from psa_chatops.storage.mail_messages import MailCursorStore

logger = logging.getLogger(__name__)
BREAKER_PREFIX = "mail:"


def reader_for(mailbox: MailboxConfig, cursors: MailCursorStore) -> MailboxReader:
    if mailbox.scheme in ("imap", "imaps"):
        return ImapReader(mailbox)
    if mailbox.scheme in ("pop3", "pop3s"):
        return Pop3Reader(mailbox)
    return GraphMailReader(mailbox, cursors)


@dataclass
class DrainResult:
    taken: list[IntakeView] = field(default_factory=list)
    refused: int = 0

    def count(self, outcome: Outcome) -> int:
        return sum(1 for view in self.taken if view.outcome is outcome)


async def drain(reader: MailboxReader, intake: MailIntake, mailbox: MailboxConfig) -> DrainResult:
    """Every pending message once: fetch, commit through the intake, then mark."""
    result = DrainResult()
    for ref in await reader.pending():
        raw = await reader.fetch(ref)
        if raw is None:
            continue  # taken by another reader meanwhile
        try:
            view = await intake.take(raw, mailbox)
        except DomainError as exc:
            logger.warning("mailbox %s: message %s refused: %s", mailbox.label, ref, exc)
            result.refused += 1
            continue
        await reader.mark(ref)
        result.taken.append(view)
    return result


@dataclass
class MailboxRunner:
    mailbox: MailboxConfig
    intake: MailIntake
    cursors: MailCursorStore
    breakers: BreakerBoard
    backoff: RetryPolicy = field(default_factory=lambda: RetryPolicy(base_seconds=2.0, cap_seconds=300.0))
    rng: random.Random = field(default_factory=random.Random)
    make_reader: Callable[[MailboxConfig, MailCursorStore], MailboxReader] = reader_for
    rounds: int = 0  # completed drains
    observers: list[Callable[[DrainResult], None]] = field(default_factory=list)  # told after every drain

    @property
    def breaker_name(self) -> str:
        return BREAKER_PREFIX + self.mailbox.label

    async def once(self) -> DrainResult:
        """Connect, drain, close: ``psa mail poll --once`` and the tests."""
        reader = self.make_reader(self.mailbox, self.cursors)
        try:
            await reader.connect()
            result = await drain(reader, self.intake, self.mailbox)
            self._done(result)
            return result
        finally:
            await reader.close()

    def _done(self, result: DrainResult) -> None:
        self.rounds += 1
        for observer in self.observers:
            observer(result)

    async def run(self) -> None:
        """Until cancelled: the worker's long-running task for this mailbox."""
        failures = 0
        while True:
            retry_in = self.breakers.retry_in(self.breaker_name)
            if retry_in:
                await asyncio.sleep(retry_in)
            reader = self.make_reader(self.mailbox, self.cursors)
            try:
                await reader.connect()
                self.breakers.record_success(self.breaker_name)
                failures = 0
                while True:
                    self._done(await drain(reader, self.intake, self.mailbox))
                    await reader.wait(self.mailbox.poll_seconds)
            except asyncio.CancelledError:
                raise
            except (MailboxError, OSError, TimeoutError) as exc:
                failures += 1
                self.breakers.record_failure(self.breaker_name)
                delay = self.backoff.next_delay(failures, rng=self.rng)
                logger.warning("mailbox %s: %s; reconnecting in %.1f s", self.mailbox.label, exc, delay)
                await asyncio.sleep(delay)
            except Exception:
                failures += 1
                delay = self.backoff.next_delay(failures, rng=self.rng)
                logger.exception("mailbox %s failed; reconnecting in %.1f s", self.mailbox.label, delay)
                await asyncio.sleep(delay)
            finally:
                await reader.close()
