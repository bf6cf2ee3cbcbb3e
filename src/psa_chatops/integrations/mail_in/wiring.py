"""The configured mailboxes as runners: one long-running task each in the worker (``background_ctx``), or one
round each for ``psa mail poll --once``. Their circuit breakers live on the dispatcher's board (``/readyz``)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.handlers.messagebus import MessageBus
from psa_chatops.integrations.mail_in.config import MailboxConfig
from psa_chatops.integrations.mail_in.intake import MailIntake
from psa_chatops.integrations.mail_in.readers import MailboxError
from psa_chatops.integrations.mail_in.runner import MailboxRunner, reader_for
from psa_chatops.integrations.resilience import BreakerBoard
from psa_chatops.storage.mail_messages import MailCursorStore
from psa_chatops.storage.sqlite_writer import SqliteWriter


def mailbox_runners(
    mailboxes: list[MailboxConfig],
    engine: AsyncEngine,
    writer: SqliteWriter | None,
    bus: MessageBus,
    breakers: BreakerBoard,
) -> dict[str, MailboxRunner]:
    """Task name -> runner, one per mailbox, sharing one intake (and its directory snapshot)."""
    if not mailboxes:
        return {}
    intake, cursors = MailIntake(engine, bus), MailCursorStore(engine, writer=writer)
    return {f"mailbox:{m.label}": MailboxRunner(m, intake, cursors, breakers) for m in mailboxes}


async def check_login(mailbox: MailboxConfig, engine: AsyncEngine) -> str:
    """Connect and log in (``psa doctor``): what the server answered, or ``MailboxError`` with the reason. Nothing
    is fetched or marked; a Graph mailbox is only opened (its delta cursor belongs to the worker)."""
    reader = reader_for(mailbox, MailCursorStore(engine))
    try:
        await reader.connect()
        if mailbox.scheme == "graph":
            return "signed in, the inbox is readable"
        return f"logged in, {len(await reader.pending())} message(s) waiting"
    except ValueError as exc:  # a secret that cannot be read
        raise MailboxError(str(exc)) from exc
    finally:
        await reader.close()
