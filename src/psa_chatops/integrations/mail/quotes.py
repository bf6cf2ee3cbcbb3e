"""Where the quoted part of a reply begins: the line patterns mail clients write above what they quote.

Each function looks at the lines from one position and returns how many lines the marker spans (0: no marker).
Three families, in German, English and the other languages of the corpus (customers forward mail from everywhere):

* attribution lines, possibly wrapped over up to four lines: "Am 07.05.2012 08:10, schrieb X:", "On ... wrote:",
  "Le ... a écrit :", and the date-first forms "30.09.2017, 18:30, "X" <x@example.com>:" that end in a colon and
  name an address;
* header blocks: "Von:/From:" with "Gesendet:/Sent:/An:/To:/Betreff:/Subject:" lines below it (Outlook, Windows
  Mail, Apple Mail, in many languages), optionally after a separator line ("____", "-----Original Message-----");
* separator lines that alone open a quote: "-----Ursprüngliche Nachricht-----", "---------- Forwarded message".
"""

from __future__ import annotations

import re

_WROTE = (
    r"wrote|writes|schrieb|schreibt|a écrit|a ecrit|écrit|schreef|escribió|escribio|ha scritto|scrive|napisał|"
    r"napisał\(a\)|napisal|escreveu|skrev|skrifaði|kirjoitti|написал|написала|написав|написа|írta|yazd\u0131|"
    r"šrieb|napsal|wrote\s*[-]+"
)
_ATTRIBUTION_START = (
    r"on|am|le|op|el|il|in data|w dniu|dnia|em|den|d\.|pe|ma|ti|ke|to|pá|su|la|sent|"
    r"\d[\d./-]*|mon|tue|wed|thu|fri|sat|sun|mo|di|mi|do|fr|sa|so"
)
_ATTRIBUTION = re.compile(
    rf"^\s*[\s>-]*(?:{_ATTRIBUTION_START})\b.{{0,400}}?(?:{_WROTE})(?:\s*-*\s*:?|\s+[^:]{{1,80}}:)\s*$",
    re.IGNORECASE,
)
# "2017-11-24 16:32 GMT+01:00 Baptiste <b@example.com>:" (date first, address, colon at the end)
_ENDS_WITH_COLON = re.compile(r":\s*$")
_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+\.[\w.-]+")
_DATE_OR_ADDRESS = re.compile(r"\d|@|\byou\b", re.IGNORECASE)
_DATE_OR_TIME = re.compile(r"\d{1,2}[:.]\d{2}|\d{1,4}[./-]\d{1,2}|(?:19|20)\d\d")
_ON_DATE = re.compile(
    r"^\s*(?:on|am|le)\s+(?:\d|mon|tue|wed|thu|fri|sat|sun|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|"
    r"mo|di|mi|do|fr|sa|so|lun|mar|mer|jeu|ven|sam|dim)",
    re.IGNORECASE,
)

_FROM_KEYS = r"from|von|de|van|da|fra|från|od|от|lähettäjä|feladó|kimden|de la|从|寄件者"
_OTHER_KEYS = (
    r"sent|date|datum|dato|data|to|an|cc|bcc|kopie|subject|betreff|gesendet|envoyé le|envoyé|date d'envoi|"
    r"à|a|objet|sujet|copie à|copie|verzonden|aan|onderwerp|inviato|oggetto|enviado|para|asunto|assunto|til|"
    r"emne|sendt|skickat|ämne|till|wysłano|temat|do|отправлено|кому|тема|дата|lähetetty|vastaanottaja|aihe|"
    r"elküldve|címzett|tárgy|tarih|konu|kime|reply-to|antwort an|message du|gönderildi"
)
_FROM_LINE = re.compile(rf"^\s*[*>]?\s*\**\s*(?:{_FROM_KEYS})\s*:", re.IGNORECASE)
_HEADER_LINE = re.compile(rf"^\s*[*>]?\s*\**\s*(?:{_FROM_KEYS}|{_OTHER_KEYS})\s*\**\s*:", re.IGNORECASE)

_SEPARATOR_WORDS = (
    r"original message|original-nachricht|ursprüngliche nachricht|ursprungliche nachricht|urspruengliche nachricht|"
    r"weitergeleitete nachricht|forwarded message|message d'origine|message transféré|message original|"
    r"oorspronkelijk bericht|doorgestuurd bericht|oprindelig besked|opprinnelig melding|ursprungligt meddelande|"
    r"mensaje original|mensagem original|messaggio originale|messaggio inoltrato|alkuperäinen viesti|"
    r"исходное сообщение|пересылаемое сообщение|wiadomość oryginalna|původní zpráva|eredeti üzenet"
)
_SEPARATOR = re.compile(rf"^\s*[-_=*>\s]*(?:{_SEPARATOR_WORDS})\s*:?[-_=*\s]*$", re.IGNORECASE)
_FORWARD_INTRO = re.compile(
    r"^\s*(?:begin forwarded message|anfang der weitergeleiteten nachricht|début du message réexpédié)\s*:\s*$",
    re.IGNORECASE,
)
_RULE = re.compile(r"^\s*(?:_{8,}|-{8,}|={4,}|\*{8,})\s*$")


def attribution(lines: list[str], start: int) -> int:
    """Lines spanned by an "On ... wrote:" attribution at ``start`` (wrapped over at most four lines), else 0."""
    first = lines[start].strip()
    if not first or len(first) > 400:
        return 0
    joined = ""
    for span in range(1, 5):
        if start + span > len(lines):
            return 0
        line = lines[start + span - 1].strip()
        if span > 1 and not line:
            return 0
        joined = f"{joined} {line}".strip()
        dated = span <= 2 and bool(_DATE_OR_TIME.search(first[:40])) and _dated_address(joined)
        if (_ATTRIBUTION.match(joined) and _DATE_OR_ADDRESS.search(joined)) or dated:
            return span
    return 0


def _dated_address(joined: str) -> bool:
    """ "30.09.2017, 18:30, "X" <x@example.com>:": a date or time, then an address, then a colon at the end."""
    if len(joined) > 300 or "@" not in joined or not _ENDS_WITH_COLON.search(joined):
        return False
    address = _EMAIL.search(joined)
    return (
        address is not None
        and len(joined) - address.end() <= 40
        and bool(_DATE_OR_TIME.search(joined[: address.start()]))
    )


def bare_attribution(lines: list[str], start: int) -> int:
    """An attribution cut short ("On <date>, John <j@example.com> wro") that is directly followed by ``>`` lines."""
    first = lines[start]
    if not _ON_DATE.match(first) or not _EMAIL.search(first):
        return 0
    after = start + 1
    while after < len(lines) and not lines[after].strip():
        after += 1
    return 1 if after < len(lines) and lines[after].lstrip().startswith(">") else 0


def header_block(lines: list[str], start: int) -> int:
    """Lines of an Outlook-style "From:/Sent:/To:/Subject:" block starting at ``start``, else 0.

    The block must name the sender and have at least one more header line within the next six lines (a sender
    line may wrap onto the next line), and it must start with a header line.
    """
    if not _HEADER_LINE.match(lines[start]):
        return 0
    window = lines[start : start + 7]
    keys = [i for i, line in enumerate(window) if _HEADER_LINE.match(line)]
    has_from = any(_FROM_LINE.match(window[i]) for i in keys)
    if len(keys) < 2 or not has_from:
        return 0
    if not (_FROM_LINE.match(window[0]) or len(keys) >= 3):
        return 0
    end = keys[-1] + 1
    return end


def separator(lines: list[str], start: int) -> int:
    """A line that alone opens a quoted or forwarded message ("-----Original Message-----")."""
    line = lines[start]
    return 1 if _SEPARATOR.match(line) or _FORWARD_INTRO.match(line) else 0


def is_rule(line: str) -> bool:
    """A line of underscores, dashes or equal signs that often stands above a header block."""
    return bool(_RULE.match(line))


def is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">")
