"""RFC 5424 syslog messages and RFC 6587 octet-counting frames, pure.

``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG``: PRI is facility * 8 + severity;
TIMESTAMP is UTC with milliseconds (the form QRadar's LEEF guide asks for); the header fields are printable
US-ASCII without spaces, cut to RFC 5424's lengths, ``-`` when empty. MSG is sent without a BOM: QRadar reads the
LEEF text from the first byte, and RFC 5424 allows MSG-ANY.

Over TCP each message is framed as ``MSG-LEN SP SYSLOG-MSG`` (octet counting, RFC 6587 3.4.1), so a message may
hold any byte, newlines included, and a batch is simply the frames one after another in one write.
"""

from __future__ import annotations

from datetime import UTC, datetime

NILVALUE = "-"
SYSLOG_SEVERITY = {"critical": 2, "high": 3, "medium": 4, "low": 5, "informational": 6}
"""crit, err, warning, notice, info."""

_LIMITS = {"hostname": 255, "app_name": 48, "procid": 128, "msgid": 32}


def syslog_message(
    msg: str,
    *,
    timestamp: datetime,
    hostname: str | None,
    app_name: str | None,
    msgid: str | None = None,
    procid: str | None = None,
    facility: int = 16,
    severity: int = 6,
) -> bytes:
    if not 0 <= facility <= 23 or not 0 <= severity <= 7:
        raise ValueError(f"syslog facility {facility} / severity {severity} out of range (0-23 / 0-7)")
    moment = timestamp.astimezone(UTC)
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    header = " ".join(
        (
            f"<{facility * 8 + severity}>1",
            stamp,
            header_field(hostname, _LIMITS["hostname"]),
            header_field(app_name, _LIMITS["app_name"]),
            header_field(procid, _LIMITS["procid"]),
            header_field(msgid, _LIMITS["msgid"]),
            NILVALUE,  # no structured data: everything is in the LEEF attributes
        )
    )
    return f"{header} {msg}".encode()


def header_field(value: str | None, limit: int) -> str:
    """Printable US-ASCII (33-126) only, at most ``limit`` characters; ``-`` when nothing is left."""
    cleaned = "".join(ch for ch in (value or "") if 33 <= ord(ch) <= 126)[:limit]
    return cleaned or NILVALUE


def octet_frame(message: bytes) -> bytes:
    return str(len(message)).encode() + b" " + message
