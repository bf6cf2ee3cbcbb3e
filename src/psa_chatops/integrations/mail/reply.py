"""Split a reply into what the sender wrote, what they quoted and their signature, so nothing is lost.

The order matters and follows how mail clients build replies:

1. The first quote marker outside ``>`` lines (``quotes``: attribution, header block, separator) cuts the
   message, unless it only introduces a ``>`` block that the sender then answers below (an inline or
   bottom-posted reply): then the search goes on after that block. A mobile signature ("Sent from my iPhone")
   ends the sender's text too; mobile clients put the original right below it, often unmarked.
2. A ``>`` block at the very top that the sender answers below (bottom posting, with or without its
   attribution) becomes quote when no other ``>`` line follows; blocks between answers stay: they are the
   context of an inline reply.
3. A ``>`` block at the end (with its attribution) becomes quote; a signature below it is kept apart first.
4. The signature (``signatures``) is cut from the rest.

``Reply.body`` is what a ticket note shows; ``quote`` and ``signature`` are stored with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from psa_chatops.integrations.mail import quotes
from psa_chatops.integrations.mail.signatures import find_signature, is_mobile_signature

_INVISIBLE = str.maketrans({"\u200b": None, "\u200c": None, "\u200d": None, "\ufeff": None, "\xa0": " "})


@dataclass(frozen=True)
class Reply:
    body: str
    quote: str = ""
    signature: str = ""


@dataclass(frozen=True)
class _Cut:
    start: int
    end: int  # the quote is lines[start:end]; lines[end:] is a signature below it


def split_reply(text: str, *, sender_names: Sequence[str] = ()) -> Reply:
    """``text`` (plain text, any line endings) as body, removed quote and removed signature."""
    lines = [line.rstrip() for line in text.translate(_INVISIBLE).replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    quoted: list[list[str]] = []
    signature: list[list[str]] = []
    body = lines
    cut = find_cut(lines)
    if cut is not None:
        body, quoted_part, tail = lines[: cut.start], lines[cut.start : cut.end], lines[cut.end :]
        quoted.append(quoted_part)
        signature.append(tail)
    body, leading = _leading_quote(body)
    quoted.insert(0, leading)
    body, below_quote = _signature_below_quote(body, sender_names)
    signature.insert(0, below_quote)
    body, trailing = _trailing_quote(body)
    quoted.insert(1, trailing)
    start = find_signature(body, sender_names)
    if start is not None:
        signature.insert(0, body[start:])
        body = body[:start]
    return Reply(body=_join([body]), quote=_join(quoted), signature=_join(signature))


def find_cut(lines: list[str]) -> _Cut | None:
    index = 0
    while index < len(lines):
        line = lines[index]
        if not line.strip() or quotes.is_quoted(line):
            index += 1
            continue
        if is_mobile_signature(line) and _has_content(lines[index + 1 :]) and _has_content(lines[:index]):
            return _Cut(index + 1, len(lines))
        span = _marker(lines, index)
        if not span:
            index += 1
            continue
        start = _with_rule_above(lines, index)
        after = _skip_blank(lines, index + span)
        if after >= len(lines) or not quotes.is_quoted(lines[after]):
            return _Cut(start, len(lines))
        block_end = _quoted_block_end(lines, after)
        rest = lines[block_end:]
        if not _has_content(rest) or _only_signature(rest):
            return _Cut(start, block_end)
        if _marker(lines, _skip_blank(lines, block_end)):
            return _Cut(start, len(lines))
        index = block_end  # an inline or bottom-posted reply: the sender answers below the quote
    return None


def _marker(lines: list[str], index: int) -> int:
    if index >= len(lines):
        return 0
    return (
        quotes.separator(lines, index)
        or quotes.attribution(lines, index)
        or quotes.header_block(lines, index)
        or quotes.bare_attribution(lines, index)
    )


def _with_rule_above(lines: list[str], index: int) -> int:
    above = index - 1
    if above >= 0 and not lines[above].strip():
        above -= 1
    return above if above >= 0 and quotes.is_rule(lines[above]) else index


def _skip_blank(lines: list[str], index: int) -> int:
    while index < len(lines) and not lines[index].strip():
        index += 1
    return index


def _quoted_block_end(lines: list[str], start: int) -> int:
    """End of the ``>`` block at ``start``; blank lines inside it belong to it when more ``>`` lines follow, and so
    does an unquoted line right after a long quoted one when the quote goes on (a client re-wrapped the quote)."""
    end = index = start
    while index < len(lines):
        line = lines[index]
        if quotes.is_quoted(line):
            end = index + 1
        elif line.strip() and not _wrapped_quote_line(lines, index):
            break
        index += 1
    return end


def _wrapped_quote_line(lines: list[str], index: int) -> bool:
    previous = lines[index - 1] if index > 0 else ""
    following = lines[index + 1] if index + 1 < len(lines) else ""
    long_quote = quotes.is_quoted(previous) and len(previous.lstrip("> ")) >= 50
    return long_quote and (quotes.is_quoted(following) or not following.strip())


def _has_content(lines: Sequence[str]) -> bool:
    return any(line.strip() for line in lines)


def _only_signature(lines: list[str]) -> bool:
    start = _skip_blank(lines, 0)
    padded = ["x", *lines[start:]]  # find_signature never answers 0: give it a line to keep
    return find_signature(padded) == 1


def _leading_quote(body: list[str]) -> tuple[list[str], list[str]]:
    start = _skip_blank(body, 0)
    marker = _marker(body, start) if start < len(body) and not quotes.is_quoted(body[start]) else 0
    first = _skip_blank(body, start + marker)
    if first >= len(body) or not quotes.is_quoted(body[first]):
        return body, []
    end = _quoted_block_end(body, first)
    rest = body[end:]
    if not _has_content(rest) or any(quotes.is_quoted(line) for line in rest):
        return body, []
    return rest, body[:end]


def _signature_below_quote(body: list[str], sender_names: Sequence[str]) -> tuple[list[str], list[str]]:
    last = max((i for i, line in enumerate(body) if quotes.is_quoted(line)), default=-1)
    if last < 0:
        return body, []
    below = body[last + 1 :]
    start = _skip_blank(below, 0)
    if start >= len(below):
        return body, []
    found = find_signature(["x", *below[start:]], sender_names)
    if found != 1:
        return body, []
    return body[: last + 1 + start], below[start:]


def _trailing_quote(body: list[str]) -> tuple[list[str], list[str]]:
    end = len(body)
    while end > 0 and not body[end - 1].strip():
        end -= 1
    if end == 0 or not quotes.is_quoted(body[end - 1]):
        return body, []
    start = end
    while start > 0 and (not body[start - 1].strip() or quotes.is_quoted(body[start - 1])):
        start -= 1
    start = _skip_blank(body, start)
    for back in range(1, 5):
        candidate = start - back
        if candidate >= 0 and _marker(body, candidate) == back:
            start = candidate
            break
    if not _has_content(body[:start]):
        return body, []
    return body[:start], body[start:]


def _join(parts: list[list[str]]) -> str:
    texts = ["\n".join(part).strip("\n") for part in parts]
    return "\n\n".join(text for text in texts if text.strip())
