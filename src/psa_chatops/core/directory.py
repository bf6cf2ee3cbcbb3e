"""Who and what the PSA knows: customers, contacts, technicians, assets and maintenance windows.

These are plain records; the rules that involve them (who may see which ticket, which policy applies) live in the
use-cases and in ``tickets``/``sla``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from psa_chatops.core.sla import BusinessCalendar


class Role(StrEnum):
    TECHNICIAN = "technician"
    DISPATCHER = "dispatcher"
    ADMIN = "admin"


@dataclass(frozen=True)
class Customer:
    id: str
    name: str
    email_domains: tuple[str, ...] = ()
    calendar: BusinessCalendar = field(default_factory=BusinessCalendar)
    sla_policy_id: str = "standard"
    locale: str = "de"


@dataclass(frozen=True)
class Contact:
    id: str
    customer_id: str
    name: str
    email: str
    locale: str = "de"
    phone: str | None = None


@dataclass(frozen=True)
class Technician:
    id: str
    name: str
    email: str
    role: Role = Role.TECHNICIAN
    customer_scope: frozenset[str] | None = None
    locale: str = "en"
    timezone: str = "Europe/Berlin"

    def can_see_customer(self, customer_id: str) -> bool:
        return self.customer_scope is None or customer_id in self.customer_scope


@dataclass(frozen=True)
class Asset:
    id: str
    customer_id: str
    name: str
    hostname: str
    type: str = "workstation"


@dataclass(frozen=True)
class MaintenanceWindow:
    id: str
    customer_id: str
    title: str
    starts_at: datetime
    ends_at: datetime
    asset_ids: tuple[str, ...] = ()

    def covers(self, moment: datetime, asset_id: str | None = None) -> bool:
        in_time = self.starts_at <= moment < self.ends_at
        return in_time and (not self.asset_ids or asset_id is None or asset_id in self.asset_ids)
