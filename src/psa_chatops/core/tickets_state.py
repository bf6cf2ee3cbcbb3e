"""Enumerations of the ticket's state, shared by commands, events and the aggregate."""

from __future__ import annotations

from enum import StrEnum

from psa_chatops.core.errors import N_, Label


class Status(StrEnum):
    NEW = "new"
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    WAITING_CUSTOMER = "waiting_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"

    @property
    def is_done(self) -> bool:
        return self in (Status.RESOLVED, Status.CLOSED)

    @property
    def label(self) -> Label:
        return Label(STATUS_LABELS[self])


class Source(StrEnum):
    SLACK = "slack"
    TEAMS = "teams"
    EMAIL = "email"
    API = "api"
    ALERT = "alert"
    SANDBOX = "sandbox"


class Visibility(StrEnum):
    PUBLIC = "public"
    INTERNAL = "internal"


ALLOWED_TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.OPEN, Status.IN_PROGRESS, Status.WAITING_CUSTOMER, Status.RESOLVED, Status.CLOSED}),
    Status.OPEN: frozenset({Status.IN_PROGRESS, Status.WAITING_CUSTOMER, Status.RESOLVED, Status.CLOSED}),
    Status.IN_PROGRESS: frozenset({Status.OPEN, Status.WAITING_CUSTOMER, Status.RESOLVED, Status.CLOSED}),
    Status.WAITING_CUSTOMER: frozenset({Status.OPEN, Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED}),
    Status.RESOLVED: frozenset({Status.OPEN, Status.CLOSED}),
    Status.CLOSED: frozenset(),
}


STATUS_LABELS: dict[Status, str] = {
    Status.NEW: N_("new"),
    Status.OPEN: N_("open"),
    Status.IN_PROGRESS: N_("in progress"),
    Status.WAITING_CUSTOMER: N_("waiting for customer"),
    Status.RESOLVED: N_("resolved"),
    Status.CLOSED: N_("closed"),
}
