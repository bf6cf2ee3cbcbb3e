"""What the mail parser noticed but did not refuse: malformed MIME, a part it could not decode, an attachment that
breaks the policy. Parsing never raises on a customer's junk; it reads what it can and says what it skipped.

The texts are msgids (English, marked with ``N_``) with their parameters kept apart, so the intake can show them to
a German admin in German (``MailWarning.text("de")``) while the JSON of ``psa mail parse`` stays stable (``code``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psa_chatops.core.errors import N_
from psa_chatops.i18n import translate

MALFORMED_MIME = "malformed_mime"
UNDECODABLE_PART = "undecodable_part"
UNKNOWN_CHARSET = "unknown_charset"
NO_BODY = "no_body"
ATTACHMENT_TOO_LARGE = "attachment_too_large"
ATTACHMENT_TYPE_NOT_ALLOWED = "attachment_type_not_allowed"
TOO_MANY_ATTACHMENTS = "too_many_attachments"
BAD_HEADER = "bad_header"

MESSAGES: dict[str, str] = {
    MALFORMED_MIME: N_("The message's MIME structure is damaged ({detail}); what could be read was kept."),
    UNDECODABLE_PART: N_("A part ({content_type}) could not be decoded and was skipped."),
    UNKNOWN_CHARSET: N_("Unknown character set {charset}; the text was read as UTF-8 with replacements."),
    NO_BODY: N_("The message has no readable text."),
    ATTACHMENT_TOO_LARGE: N_("Attachment {name} is {size} bytes, more than the limit of {limit} bytes."),
    ATTACHMENT_TYPE_NOT_ALLOWED: N_("Attachment {name} has a content type that is not allowed ({content_type})."),
    TOO_MANY_ATTACHMENTS: N_("The message has {count} attachments, more than the limit of {limit}."),
    BAD_HEADER: N_("The {header} header could not be read ({detail})."),
}


@dataclass(frozen=True)
class MailWarning:
    code: str
    params: dict[str, Any] = field(default_factory=dict)

    def text(self, locale: str = "en") -> str:
        return translate(MESSAGES[self.code], locale, **self.params)

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.text(), **self.params}
