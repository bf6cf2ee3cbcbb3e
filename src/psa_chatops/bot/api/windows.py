"""Deleting a maintenance window through the API, independent of the version.

The other window operations are the directory's generic four (``directory.create`` / ``update``); a delete is
specific to windows because it has a side effect outside the PSA: with a Microsoft 365 calendar configured, the
row that removes the window's Graph event goes into the outbox in the same transaction as the delete
(``directory_writer.delete_window``), so the calendar can never keep an entry for a window that is gone, and a
rolled back delete never removes one. The notifier finds the window missing and deletes the event it booked.
"""

from __future__ import annotations

from psa_chatops.bot import keys
from psa_chatops.bot.api import directory
from psa_chatops.bot.api.operations import Call
from psa_chatops.bot.calendar import configured_calendar
from psa_chatops.core.errors import NotFoundError
from psa_chatops.storage import directory as store
from psa_chatops.storage import directory_writer as writer
from psa_chatops.storage.tables import SqlConnection

KIND = directory.WINDOWS


async def delete(call: Call, window_id: str) -> None:
    """404 for an unknown window and for one of a customer the caller does not see: nothing to tell apart."""
    actor = directory.actor_of(call)
    app = call.request.config_dict
    calendar, now = configured_calendar(app[keys.SETTINGS]), app[keys.CLOCK].now()

    async def work(conn: SqlConnection) -> None:
        current = await store.find(conn, KIND.collection, window_id, lock=True)
        if current is None or not KIND.visible(actor, current):
            raise NotFoundError(KIND.missing, id=window_id)
        await writer.delete_window(conn, window_id, calendar=calendar, now=now)

    await directory.write(call, work)
    await directory.invalidate(call, KIND.plural, *KIND.tags(window_id))
