"""``psa manifest teams --app-id GUID --url https://host``: the Teams app package (``psa-chatops-teams.zip``).

The zip holds ``manifest.json`` (schema 1.17, from the packaged template ``manifest.json`` with the placeholders
``{{APP_ID}}``, ``{{URL}}``, ``{{DOMAIN}}`` and ``{{VERSION}}``), ``color.png`` (192x192) and ``outline.png``
(32x32, white on transparent). The icons are drawn here and encoded with zlib/struct, so no imaging library.

The bot menu (``commandLists``) has one list for the personal scope and one for team + group chats: Teams shows at
most 10 commands per list, so ``subscribe``/``unsubscribe`` are only in the channel menu and ``mine``/``link`` only in
the personal one (every command still works when typed anywhere). The message extension offers the ``searchTickets``
query and unfurls links to the service's host.
"""

from __future__ import annotations

import asyncio
import json
import re
import struct
import zipfile
import zlib
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from psa_chatops import __version__

TEMPLATE = "manifest.json"
PACKAGE_NAME = "psa-chatops-teams.zip"
COLOR_SIZE = 192
OUTLINE_SIZE = 32
ACCENT = (0x1D, 0x35, 0x57)
WHITE = (0xFF, 0xFF, 0xFF)
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
SEMVER = re.compile(r"\d+\.\d+\.\d+")
ZIP_TIME = (2024, 1, 1, 0, 0, 0)  # fixed: the same inputs give the same package, byte for byte


def read_template() -> str:
    """Blocking file read: call it outside the event loop (the CLI) or through :func:`load`."""
    return (files(__package__) / TEMPLATE).read_text(encoding="utf-8")


async def load(app_id: str, url: str) -> dict[str, Any]:
    return render(await asyncio.to_thread(read_template), app_id, url)


def render(template: str, app_id: str, url: str) -> dict[str, Any]:
    """The manifest for the bot registration ``app_id`` (its Microsoft App ID) serving at ``url``."""
    if not GUID.fullmatch(app_id.strip()):
        raise ValueError(
            f"The app id must be the bot's Microsoft App ID, a GUID like 00000000-0000-0000-0000-000000000000 "
            f"(got {app_id!r})"
        )
    base = url.rstrip("/")
    parts = urlsplit(base)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"Teams needs a public https URL, e.g. https://psa.example.com (got {url!r})")
    version = SEMVER.match(__version__)
    values = {
        "APP_ID": app_id.strip().lower(),
        "URL": base,
        "DOMAIN": parts.hostname,
        "VERSION": version.group(0) if version else "1.0.0",
    }
    filled: dict[str, Any] = _fill(json.loads(template), values)
    return filled


def _fill(node: Any, values: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: _fill(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill(v, values) for v in node]
    if isinstance(node, str):
        for name, value in values.items():
            node = node.replace("{{" + name + "}}", value)
    return node


def build(manifest: dict[str, Any], out: Path) -> Path:
    """Write the package into the folder ``out`` (created if missing); blocking. Returns the zip's path."""
    out.mkdir(parents=True, exist_ok=True)
    target = out / PACKAGE_NAME
    entries = {
        "manifest.json": json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8"),
        manifest["icons"]["color"]: color_icon(),
        manifest["icons"]["outline"]: outline_icon(),
    }
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return target


# --- the icons ---------------------------------------------------------------------------------------------------


def _ticket(size: int) -> Callable[[int, int], bool]:
    """A ticket: a rectangle with a notch on each short side, centred; True on the ticket's pixels."""
    left, right = size * 3 // 16, size - size * 3 // 16
    top, bottom = size * 5 // 16, size - size * 5 // 16
    notch = max(2, size // 12)
    middle = (top + bottom) / 2

    def inside(x: int, y: int) -> bool:
        if not (left <= x < right and top <= y < bottom):
            return False
        cy = y + 0.5 - middle
        return all(cx * cx + cy * cy >= notch * notch for cx in (x + 0.5 - left, x + 0.5 - right))

    return inside


def color_icon() -> bytes:
    """192x192 RGB: a white ticket on the accent colour (full bleed, as Teams wants)."""
    inside = _ticket(COLOR_SIZE)
    rows = [b"".join(bytes(WHITE if inside(x, y) else ACCENT) for x in range(COLOR_SIZE)) for y in range(COLOR_SIZE)]
    return png(COLOR_SIZE, COLOR_SIZE, rows, alpha=False)


def outline_icon() -> bytes:
    """32x32 RGBA: the ticket's outline in white on a fully transparent background (alpha 0 or 255 only)."""
    inside = _ticket(OUTLINE_SIZE)

    def edge(x: int, y: int) -> bool:
        return inside(x, y) and not all(
            inside(x + dx, y + dy) for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1), (2, 0), (-2, 0), (0, 2), (0, -2))
        )

    rows = [
        b"".join(bytes((*WHITE, 255)) if edge(x, y) else bytes((0, 0, 0, 0)) for x in range(OUTLINE_SIZE))
        for y in range(OUTLINE_SIZE)
    ]
    return png(OUTLINE_SIZE, OUTLINE_SIZE, rows, alpha=True)


def png(width: int, height: int, rows: list[bytes], *, alpha: bool) -> bytes:
    """A minimal PNG: 8-bit RGB or RGBA, no interlace, filter 0 on every row."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 6 if alpha else 2, 0, 0, 0)
    raw = b"".join(b"\x00" + row for row in rows)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
