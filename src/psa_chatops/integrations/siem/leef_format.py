"""IBM QRadar's Log Event Extended Format, version 2.0, pure.

``LEEF:2.0|Vendor|Product|Version|EventID|`` then ``key=value`` attributes separated by the delimiter. Tab is
LEEF's default delimiter and then the header's optional delimiter field is left out (the shape of the real
Trend Micro lines in the test corpus); any other delimiter is declared in that field (``^``, or ``xHH`` for a
character that is not printable).

Escaping, as QRadar and the corpus lines do it: in header fields ``\\`` and ``|`` get a backslash; in values a
backslash becomes ``\\\\``, newline ``\\n``, carriage return ``\\r``, and the delimiter (tab: ``\\t``) is
backslash-escaped, so a value can never end its attribute early or break the syslog line. Keys are
``[A-Za-z0-9_]`` only (LEEF keys are identifiers).

Predefined attributes used: ``devTime`` with ``devTimeFormat`` (Java ``SimpleDateFormat``; we send
``yyyy-MM-dd'T'HH:mm:ss.SSSZ`` in UTC), ``sev`` (1-10), ``cat``, ``src`` (the asset when it is an IP) or
``identHostName`` (the asset's name), ``usrName`` (the actor). The rest are custom keys QRadar shows as-is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from psa_chatops.integrations.siem.record import SiemRecord

TAB = "\t"
DEV_TIME_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSZ"
LEEF_SEVERITY = {"critical": 10, "high": 8, "medium": 5, "low": 3, "informational": 1}
_KEY = re.compile(r"[A-Za-z0-9_]+")


@dataclass(frozen=True)
class LeefHeader:
    vendor: str
    product: str
    version: str
    event_id: str


def leef_line(header: LeefHeader, attributes: Sequence[tuple[str, str]], *, delimiter: str = TAB) -> str:
    """One LEEF 2.0 event; raises ``ValueError`` for a key that is not an identifier or a bad delimiter."""
    check_delimiter(delimiter)
    fields = [_header_field(f) for f in (header.vendor, header.product, header.version, header.event_id)]
    declared = "" if delimiter == TAB else f"{_declared(delimiter)}|"
    pairs = []
    for key, value in attributes:
        if not _KEY.fullmatch(key):
            raise ValueError(f"LEEF attribute key {key!r} is not [A-Za-z0-9_]+")
        pairs.append(f"{key}={escape_value(value, delimiter)}")
    return "LEEF:2.0|" + "|".join(fields) + "|" + declared + delimiter.join(pairs)


def check_delimiter(delimiter: str) -> None:
    if len(delimiter) != 1 or delimiter in "=|\\\n\r" or delimiter.isalnum():
        raise ValueError(f"{delimiter!r} cannot separate LEEF attributes (one character, not =, |, \\, a letter)")


def escape_value(value: str, delimiter: str = TAB) -> str:
    escaped = value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    return escaped.replace(TAB, "\\t") if delimiter == TAB else escaped.replace(delimiter, "\\" + delimiter)


def _header_field(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def _declared(delimiter: str) -> str:
    return delimiter if delimiter.isprintable() and delimiter != " " else f"x{ord(delimiter):02X}"


def leef_event(record: SiemRecord, *, vendor: str, product: str, version: str, delimiter: str = TAB) -> str:
    return leef_line(
        LeefHeader(vendor=vendor, product=product, version=version, event_id=record.event_type),
        leef_attributes(record),
        delimiter=delimiter,
    )


def leef_attributes(record: SiemRecord) -> list[tuple[str, str]]:
    moment = record.occurred_at
    attributes = [
        ("devTime", moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"),
        ("devTimeFormat", DEV_TIME_FORMAT),
        ("sev", str(LEEF_SEVERITY[record.severity])),
        ("cat", record.category),
    ]
    if record.host_ip:
        attributes.append(("src", record.host_ip))
    elif record.host:
        attributes.append(("identHostName", record.host))
    ticket = record.ticket or {}
    optional = [
        ("usrName", record.actor),
        ("eventId", record.event_id),
        ("ticket", None if record.ticket_number is None else str(record.ticket_number)),
        ("customer", record.customer_id),
        ("priority", ticket.get("priority")),
        ("status", ticket.get("status")),
        ("provider", record.alert.provider if record.alert else None),
        ("alertId", record.alert.alert_id if record.alert else None),
        ("threatType", record.alert.threat_type if record.alert else None),
        ("classification", record.classification),
        ("correlationId", record.correlation_id),
        ("msg", record.message),
    ]
    attributes += [(k, str(v)) for k, v in optional if v is not None and v != ""]
    return attributes
