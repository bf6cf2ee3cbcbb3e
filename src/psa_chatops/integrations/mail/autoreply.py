"""Mail that no human wrote: auto-replies, out-of-office notices, bounces and bulk mail.

The intake must not answer these (mail loops) nor open tickets for them. Headers decide first, because they are
set by the software that generated the mail (RFC 3834 ``Auto-Submitted``, Microsoft's ``X-Auto-Response-Suppress``
and ``X-Autoreply``, ``Precedence: bulk/junk/list``, a DSN's ``multipart/report``, a mailer daemon as sender);
subject and first lines catch the out-of-office notices of clients that set none of them, in German and English.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum


class AutoKind(StrEnum):
    BOUNCE = "bounce"
    AUTO_REPLY = "auto_reply"
    OUT_OF_OFFICE = "out_of_office"
    BULK = "bulk"


_BOUNCE_SENDERS = re.compile(r"^(?:mailer-daemon|postmaster|mail-daemon|bounce[s]?|noreply-dmarc)@", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"\b(?:undeliverable|undelivered mail|delivery status notification|mail delivery (?:failed|failure|system)|"
    r"returned mail|unzustellbar|nicht zustellbar|delivery has failed|failure notice)\b",
    re.IGNORECASE,
)
_OOO_SUBJECT = re.compile(
    r"\b(?:out of (?:the )?office|automatic reply|auto(?:matic)?[- ]?(?:reply|response)|autoreply|away from "
    r"(?:the )?office|on vacation|on holiday|abwesenheit(?:snotiz|smeldung)?|automatische antwort|"
    r"nicht im büro|außer haus|ausser haus|urlaubsbedingt|im urlaub)\b",
    re.IGNORECASE,
)
_OOO_BODY = re.compile(
    r"\b(?:i am (?:currently )?out of (?:the )?office|i'm (?:currently )?out of (?:the )?office|"
    r"i will be out of (?:the )?office|i am (?:currently )?on (?:vacation|holiday|leave)|"
    r"i (?:will|shall) (?:be back|return) on|ich bin (?:derzeit |zurzeit |bis )?(?:nicht im büro|im urlaub|"
    r"außer haus|abwesend)|ich bin (?:ab|bis) .{1,40} (?:nicht erreichbar|im urlaub|abwesend)|"
    r"vielen dank für ihre (?:e-?mail|nachricht)\. ich bin)",
    re.IGNORECASE,
)


def detect(
    headers: Mapping[str, str], *, content_type: str, sender: str | None, subject: str, body: str
) -> AutoKind | None:
    """The kind of machine-made mail, or None for a mail a person wrote."""
    if content_type == "multipart/report":
        return AutoKind.BOUNCE
    if (sender is not None and _BOUNCE_SENDERS.match(sender)) or headers.get("x-failed-recipients"):
        return AutoKind.BOUNCE
    if _BOUNCE_SUBJECT.search(subject) and (not sender or _BOUNCE_SENDERS.match(sender)):
        return AutoKind.BOUNCE
    from_headers = _from_headers(headers)
    if from_headers is not None:
        return from_headers
    if _OOO_SUBJECT.search(subject) or _OOO_BODY.search(body[:600]):
        return AutoKind.OUT_OF_OFFICE
    return None


def _from_headers(headers: Mapping[str, str]) -> AutoKind | None:
    submitted = headers.get("auto-submitted", "").strip().lower()
    if submitted and submitted != "no":
        return AutoKind.AUTO_REPLY
    if headers.get("x-autoreply") or headers.get("x-autorespond"):
        return AutoKind.AUTO_REPLY
    suppress = headers.get("x-auto-response-suppress", "").lower()
    if "all" in suppress or "oof" in suppress:
        return AutoKind.AUTO_REPLY
    if headers.get("precedence", "").strip().lower() in ("bulk", "junk", "list", "auto_reply"):
        return AutoKind.BULK
    return None
