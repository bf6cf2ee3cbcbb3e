"""Recently used tickets as last committed, so a command on a busy ticket skips reading its row and its notes.

An entry is trusted only while the ticket row's version still matches: every change bumps the version, so a write
by another process (``psa worker``, a second replica) simply misses. Entries go in only once their transaction is
durable, so a rolled-back change can never be served.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from psa_chatops.core.tickets import Ticket

DEFAULT_CAPACITY = 4096


class TicketCache:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._items: OrderedDict[int, Ticket] = OrderedDict()
        self._lock = threading.Lock()  # the SQLite writer thread and the event loop may both use it
        self.hits = self.misses = 0

    def get(self, number: int, version: int) -> Ticket | None:
        """The cached ticket if it is exactly this version (the caller must not change it: appends copy)."""
        with self._lock:
            ticket = self._items.get(number)
            if ticket is None or ticket.version != version:
                self.misses += 1
                return None
            self._items.move_to_end(number)
            self.hits += 1
            return ticket

    def put(self, tickets: list[Ticket]) -> None:
        with self._lock:
            for ticket in tickets:
                current = self._items.get(ticket.number)
                if current is not None and current.version > ticket.version:
                    continue  # a later state is already here
                self._items[ticket.number] = ticket
                self._items.move_to_end(ticket.number)
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)
