"""``psa manifest teams``: the app package (manifest.json + two PNG icons) checked the way Teams would.

The manifest is validated against Microsoft's official schema for its ``manifestVersion``, shipped in the npm
package ``@microsoft/app-manifest`` (pinned in ``tools/package.json``): run ``scripts/ensure-teams-schema`` once to
install it into ``tools/node_modules`` (``.ci/run`` does). Without it the schema tests skip locally and fail under CI.
"""

from __future__ import annotations

import json
import os
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from jsonschema.validators import validator_for
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4
from typer.testing import CliRunner

from psa_chatops.bot import cli
from psa_chatops.bot.teams import manifest

APP_ID = "0B6C3B1E-1111-4A2B-9C3D-123456789ABC"
URL = "https://psa.example.com/"
SCHEMAS = (
    Path(__file__).resolve().parents[2]
    / "tools"
    / "node_modules"
    / "@microsoft"
    / "app-manifest"
    / "build"
    / "json-schemas"
    / "teams"
)
COMMANDS = {
    "help",
    "ticket",
    "mine",
    "queue",
    "search",
    "sla",
    "new",
    "note",
    "close",
    "link",
    "subscribe",
    "unsubscribe",
}


def _png(data: bytes) -> dict[str, Any]:
    """Walk the chunks (checking each CRC) and decode the pixels of a filter-0, 8-bit PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks.append((kind, body))
        pos += 12 + length
    assert [k for k, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, color_type, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    channels = {2: 3, 6: 4}[color_type]
    raw = zlib.decompress(chunks[1][1])
    stride = 1 + width * channels
    assert len(raw) == stride * height
    rows = [raw[y * stride : (y + 1) * stride] for y in range(height)]
    assert all(r[0] == 0 for r in rows)
    pixels = {bytes(r[1 + x * channels : 1 + (x + 1) * channels]) for r in rows for x in range(width)}
    return {"size": (width, height), "depth": depth, "color_type": color_type, "interlace": interlace, "pixels": pixels}


@pytest.fixture
def package(tmp_path: Path) -> zipfile.ZipFile:
    result = CliRunner().invoke(
        cli.app, ["manifest", "teams", "--app-id", APP_ID, "--url", URL, "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    target = tmp_path / "psa-chatops-teams.zip"
    assert str(target.resolve()) in result.stdout
    return zipfile.ZipFile(target)


def test_the_zip_holds_the_manifest_and_the_two_icons_at_its_root(package: zipfile.ZipFile) -> None:
    assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]
    document = json.loads(package.read("manifest.json"))
    assert document["icons"] == {"color": "color.png", "outline": "outline.png"}


def test_the_icons(package: zipfile.ZipFile) -> None:
    color = _png(package.read("color.png"))
    assert color["size"] == (192, 192)
    assert (color["depth"], color["color_type"], color["interlace"]) == (8, 2, 0)
    assert len(color["pixels"]) > 1
    outline = _png(package.read("outline.png"))
    assert outline["size"] == (32, 32)
    assert (outline["depth"], outline["color_type"], outline["interlace"]) == (8, 6, 0)
    # white on transparent: every pixel is either opaque white or fully transparent, and both occur
    assert outline["pixels"] == {b"\xff\xff\xff\xff", b"\x00\x00\x00\x00"}


def test_the_manifest(package: zipfile.ZipFile) -> None:
    m = json.loads(package.read("manifest.json"))
    assert m["$schema"] == "https://developer.microsoft.com/en-us/json-schemas/teams/v1.17/MicrosoftTeams.schema.json"
    assert m["manifestVersion"] == "1.17"
    app_id = APP_ID.lower()
    assert m["id"] == app_id
    for key in ("version", "developer", "name", "description", "icons", "accentColor"):
        assert m[key], key
    assert all(
        m["developer"][k].startswith("https://psa.example.com") for k in ("websiteUrl", "privacyUrl", "termsOfUseUrl")
    )
    assert 0 < len(m["name"]["short"]) <= 30
    assert 0 < len(m["name"]["full"]) <= 100
    assert 0 < len(m["description"]["short"]) <= 80
    assert 0 < len(m["description"]["full"]) <= 4000
    assert m["accentColor"].startswith("#")
    assert len(m["accentColor"]) == 7
    assert "webApplicationInfo" not in m
    assert m["validDomains"] == ["psa.example.com"]

    [bot] = m["bots"]
    assert bot["botId"] == app_id
    assert set(bot["scopes"]) == {"personal", "team", "groupChat"}
    lists = bot["commandLists"]
    assert sorted(s for cl in lists for s in cl["scopes"]) == ["groupChat", "personal", "team"]  # each scope once
    offered = set()
    for command_list in lists:
        assert 0 < len(command_list["commands"]) <= 10  # Teams' limit per list
        for command in command_list["commands"]:
            assert 0 < len(command["title"]) <= 32
            assert 0 < len(command["description"]) <= 128
            offered.add(command["title"])
    assert offered == COMMANDS
    assert "12345" in next(c["description"] for cl in lists for c in cl["commands"] if c["title"] == "ticket")

    [extension] = m["composeExtensions"]
    assert extension["botId"] == app_id
    [search] = extension["commands"]
    assert (search["id"], search["type"]) == ("searchTickets", "query")
    assert [p["name"] for p in search["parameters"]] == ["query"]
    assert extension["messageHandlers"] == [{"type": "link", "value": {"domains": ["psa.example.com"]}}]
    assert "{{" not in json.dumps(m)


def _official_schema(version: str) -> dict[str, Any]:
    """Microsoft's schema for this manifest version, from the npm package ``@microsoft/app-manifest``
    (``scripts/ensure-teams-schema`` installs it into ``tools/node_modules``; ``.ci/run`` calls it)."""
    path = SCHEMAS / f"v{version}" / "MicrosoftTeams.schema.json"
    if not path.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"the Teams manifest schema {path} is missing; scripts/ensure-teams-schema installs it")
        pytest.skip(f"no Teams manifest schema at {path}: run scripts/ensure-teams-schema (npm) to install it")
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


def _schema_errors(document: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Every violation, validated with the draft the schema names; ``$ref`` resolves inside the schema only (a
    registry holding just this document: nothing is fetched)."""
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    resource = Resource.from_contents(schema, default_specification=DRAFT4)
    registry: Registry[Any] = Registry().with_resource(str(schema.get("id", "urn:teams-manifest")), resource)
    validator = validator_class(schema, registry=registry, format_checker=validator_class.FORMAT_CHECKER)
    return sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document))


def _version_of(document: dict[str, Any]) -> str:
    match = re.fullmatch(r"https://developer\.microsoft\.com/en-us/json-schemas/teams/v([\d.]+)/MicrosoftTeams\.schema\.json",
                         document["$schema"])  # fmt: skip
    assert match, document["$schema"]
    assert match[1] == document["manifestVersion"]
    return match[1]


def test_against_the_teams_manifest_schema(package: zipfile.ZipFile) -> None:
    document = json.loads(package.read("manifest.json"))
    schema = _official_schema(_version_of(document))
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    assert _schema_errors(document, schema) == []


def test_the_schema_check_catches_a_broken_manifest(package: zipfile.ZipFile) -> None:
    """The check above can fail: a wrong field, a missing one and a bad value each give an error."""
    document = json.loads(package.read("manifest.json"))
    schema = _official_schema(_version_of(document))
    document["accentColor"] = "navy"
    del document["developer"]["privacyUrl"]
    document["bots"][0]["scopes"].append("meeting")
    document["unknownField"] = True
    errors = _schema_errors(document, schema)
    for where in ("accentColor", "developer", "bots/0/scopes/3", ""):
        assert any(e.startswith(f"{where}:") for e in errors), (where, errors)


def test_the_icons_meet_the_schema(package: zipfile.ZipFile) -> None:
    """The sizes the schema asks for (in its descriptions: colour 192x192, outline 32x32 and transparent), read from
    the files the manifest names."""
    document = json.loads(package.read("manifest.json"))
    icons = _official_schema(_version_of(document))["properties"]["icons"]["properties"]
    assert "Size 192x192" in icons["color"]["description"]
    assert "Size 32x32" in icons["outline"]["description"]
    assert "transparent" in icons["outline"]["description"]
    color = _png(package.read(document["icons"]["color"]))
    outline = _png(package.read(document["icons"]["outline"]))
    assert color["size"] == (192, 192)
    assert outline["size"] == (32, 32)
    assert outline["color_type"] == 6  # RGBA: it has an alpha channel
    assert any(p[3] == 0 for p in outline["pixels"])  # transparent background
    assert {p[:3] for p in outline["pixels"] if p[3]} == {b"\xff\xff\xff"}  # white outline


def test_the_package_is_reproducible(tmp_path: Path) -> None:
    document = manifest.render(manifest.read_template(), APP_ID, URL)
    first = manifest.build(document, tmp_path / "a").read_bytes()
    assert manifest.build(document, tmp_path / "b").read_bytes() == first


async def test_load_reads_the_template_off_the_event_loop() -> None:
    assert (await manifest.load(APP_ID, URL))["id"] == APP_ID.lower()


@pytest.mark.parametrize(
    ("app_id", "url", "message"),
    [
        ("not-a-guid", URL, "GUID"),
        ("0b6c3b1e-1111-4a2b-9c3d-123456789ab", URL, "GUID"),
        ("{0b6c3b1e-1111-4a2b-9c3d-123456789abc}", URL, "GUID"),
        (APP_ID, "http://psa.example.com", "https"),
        (APP_ID, "psa.example.com", "https"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(tmp_path: Path, app_id: str, url: str, message: str) -> None:
    result = CliRunner().invoke(
        cli.app, ["manifest", "teams", "--app-id", app_id, "--url", url, "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "psa-chatops-teams.zip").exists()
