#!/usr/bin/env python3
"""Turn the collection openapi-to-postmanv2 made from the OpenAPI document into a contract test suite.

    scripts/postman_tests.py --spec build/openapi/v1.json --raw RAW.json --out OUT.postman_collection.json

What it does to the converted collection (stdlib only, deterministic):

* Collection auth is ``Bearer {{apiKey}}`` (requests inherit it; public operations get ``noauth``); collection
  variables ``baseUrl`` (the spec's server) and ``apiKey`` (empty: pass ``--env-var apiKey=psa_...``), plus the
  directory values below.
* Every request gets a test script generated from its operation in the spec:
  - the status is the documented success status (``strict``), or, for operations without a fixture here, one of
    the statuses the operation documents explicitly (``lenient``; ``default`` does not count);
  - the response ``Content-Type`` is the media type documented for that status (``application/json`` or
    ``application/problem+json``);
  - the body validates against the schema documented for that status, with ``pm.response.to.have.jsonSchema``.
    The sandbox's validator is Ajv 6 (JSON Schema draft-07) and cannot follow ``#/components/...``: the schemas
    a response needs are copied into ``definitions`` and converted from 2020-12/OpenAPI 3.1 (see ``draft7``).
* Request bodies of the operations in ``FIXTURES`` are real ones (the converter's are faked from the schema).
* Path parameters get real values: a collection whose ``POST`` has a fixture is read, changed and deleted through
  the record that ``POST`` just created (it runs first in its folder and stores the id, e.g. ``{{ticketNumber}}``,
  ``{{newCustomerId}}``); bodies refer to the seeded directory through ``customerId``, ``contactId``, ``assetId``,
  ``technicianId`` and ``slaPolicyId`` (defaults: the sandbox's demo data; the test directory overrides them with
  ``--env-var``), which are also the path values where nothing is created. A seeded record is never deleted.
* Requests run in a safe order: folders of ``FOLDER_ORDER`` first; in a folder: creations, reads, changes, deletes.
  ``{{runId}}`` (set once per run) keeps the ids of created records unique across runs against one service.
* The key (``apiKey``) needs every scope, ``admin`` included; ``POST /sandbox/tokens`` needs sandbox mode.

Operations that are left out entirely are listed in ``EXCLUDED`` (with the reason); the strict/lenient split is
printed, so a new operation without a fixture is visible in the build output.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import uuid
from pathlib import Path
from typing import Any

# --- what the suite knows about the API ---------------------------------------------------------------------------

# Values for the directory, as collection variables (override with --env-var); defaults: `psa demo seed` data.
DIRECTORY = {
    "customerId": "CUST-789",
    "contactId": "CUST-789-P1",
    "assetId": "WS-CLIENT-042",
    "technicianId": "t-tom",
    "slaPolicyId": "standard",
}
# Path segment before a parameter -> the variable holding an existing resource of that kind.
SEED_FOR_SEGMENT = {
    "customers": "customerId",
    "contacts": "contactId",
    "assets": "assetId",
    "technicians": "technicianId",
    "sla-policies": "slaPolicyId",
}

# The operations the suite drives to success: each must answer with its documented success status. The value is the
# request body (JSON; {{variables}} are filled in by Postman; {{runId}} is unique per run, so ids do not collide when
# the collection runs again against the same service), or None for a request without a body. Every other operation
# is sent as converted (faked body, placeholder ids) and checked leniently.
TARGETS = {"critical": (1800, 14400), "high": (3600, 28800), "medium": (14400, 86400), "low": (28800, 144000)}
FIXTURES: dict[str, dict[str, Any] | None] = {
    # tickets
    "createTicket": {
        "title": "Newman: printer on the 2nd floor does not print",
        "customer_id": "{{customerId}}",
        "description": "Opened by the Postman collection's contract tests.",
        "priority": "high",
        "asset_id": "{{assetId}}",
        "tags": ["newman"],
    },
    "updateTicket": {"status": "in_progress", "priority": "critical", "assignee_id": "{{technicianId}}"},
    "addTicketNote": {"body": "Checked the spooler; restarting it.", "visibility": "internal"},
    "escalateTicket": {"reason": "Blocks the whole floor", "raise_priority": True, "notify_dispatchers": False},
    # the directory (new records; the seeded ones are only read)
    "createCustomer": {
        "id": "NEWMAN-{{runId}}",
        "name": "Newman Testhaus GmbH",
        "email_domains": ["newman-{{runId}}.example"],
        "timezone": "Europe/Berlin",
        "holidays": ["2026-12-24"],
        "sla_policy_id": "{{slaPolicyId}}",
        "locale": "de",
    },
    "updateCustomer": {"name": "Newman Testhaus GmbH & Co. KG", "locale": "en"},
    "createContact": {
        "id": "newman-{{runId}}",
        "customer_id": "{{customerId}}",
        "name": "Nina Newman",
        "email": "nina.newman-{{runId}}@example.com",
        "locale": "en",
        "phone": "+49 89 1234567",
    },
    "updateContact": {"name": "Nina Newman-Meyer", "phone": None},
    "createTechnician": {
        "id": "newman-{{runId}}",
        "name": "Ned Newman",
        "email": "ned.newman-{{runId}}@msp.example",
        "role": "technician",
        "customer_scope": ["{{customerId}}"],
        "locale": "en",
        "timezone": "Europe/London",
    },
    "updateTechnician": {"role": "dispatcher", "customer_scope": None},
    "createAsset": {
        "id": "NEWMAN-{{runId}}",
        "customer_id": "{{customerId}}",
        "name": "NEWMAN-PC",
        "hostname": "newman-{{runId}}.example.local",
        "type": "workstation",
    },
    "updateAsset": {"type": "laptop"},
    "createMaintenanceWindow": {
        "id": "MW-NEWMAN-{{runId}}",
        "customer_id": "{{customerId}}",
        "title": "Firewall firmware update",
        "starts_at": "2026-12-05T22:00:00+01:00",
        "ends_at": "2026-12-06T02:00:00+01:00",
        "asset_ids": ["{{assetId}}"],
    },
    "updateMaintenanceWindow": {"title": "Firewall and switch firmware update"},
    "createSlaPolicy": {
        "id": "newman-{{runId}}",
        "name": "Newman 24/7",
        "targets": {p: {"first_response_seconds": f, "resolution_seconds": r} for p, (f, r) in TARGETS.items()},
        "around_the_clock": ["critical"],
    },
    "updateSlaPolicy": {
        "name": "Newman 24/7 (changed)",
        "targets": {"low": {"first_response_seconds": 7200, "resolution_seconds": 172800}},
    },
    # routing rules, deliveries, API keys, the sandbox
    "createRoutingRule": {
        "destination": "slack:CNEWMAN{{runId}}",
        "categories": ["new", "escalation"],
        "customer_id": "{{customerId}}",
        "min_priority": "high",
    },
    "updateRoutingRule": {"enabled": False, "min_priority": None},
    "deleteRoutingRule": None,
    "replayDeliveries": {"status": "dead"},
    "createApiKey": {
        "name": "newman {{runId}}",
        "scopes": ["tickets:read"],
        "customer_ids": ["{{customerId}}"],
        "allowed_networks": ["127.0.0.0/8"],
    },
    "revokeApiKey": None,
    "rotateApiKeySigningSecret": None,
    "deleteApiKeySigningSecret": None,
    "createSandboxToken": None,  # only in sandbox mode: the collection is made for the sandbox
}
# Left lenient on purpose: GET /deliveries/{id} and POST /deliveries/{id}/replay need a delivery, which only exists
# once a routing rule matched an event and the dispatcher ran.

# operationId -> why the collection does not contain it at all.
EXCLUDED: dict[str, str] = {}

RUN_ID = [  # a collection-level pre-request script: local variables live for one run (newman's or the app's)
    "// {{runId}}: unique per run, so the records the collection creates do not collide with an earlier run's",
    'if (!pm.variables.get("runId")) {',
    '    pm.variables.set("runId", Date.now().toString(36).toUpperCase());',
    "}",
]
FOLDER_ORDER = ("tickets",)  # then the spec's tag order
METHOD_RANK = {"GET": 1, "HEAD": 1, "POST": 2, "PUT": 2, "PATCH": 2, "DELETE": 3}
NAMESPACE = uuid.UUID("8b0e5f0c-9c59-4b1e-9a43-6f1d2a7c5e11")  # ids in the collection are uuid5(NAMESPACE, path)
JSON_TYPES = ("application/json", "application/problem+json")
DROP_KEYWORDS = {
    *("discriminator", "xml", "externalDocs", "example"),  # OpenAPI's own
    *("unevaluatedProperties", "unevaluatedItems", "$schema", "$defs", "$id"),  # 2019-09+, or resolved here
}
DATA_KEYWORDS = {"enum", "const", "default", "examples", "required"}  # values, not schemas: copied as they are
SCHEMA_MAPS = {"properties", "patternProperties", "definitions"}


# --- OpenAPI 3.1 (JSON Schema 2020-12) -> draft-07 for Ajv 6 ------------------------------------------------------


def _ref_name(ref: str) -> str:
    for prefix in ("#/components/schemas/", "#/$defs/", "#/definitions/"):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    raise ValueError(f"unsupported $ref {ref!r} (only local schema references)")


def draft7(node: Any) -> Any:
    """One schema in draft-07 terms: refs point into ``definitions``; a ``$ref`` with siblings (allowed since
    2019-09, ignored by draft-07) becomes ``allOf``; ``prefixItems`` becomes the array form of ``items``;
    ``dependentRequired``/``dependentSchemas`` become ``dependencies``; keywords Ajv 6 cannot evaluate or that are
    OpenAPI-only are dropped (``unevaluated*`` — a weaker check, never a false failure)."""
    if isinstance(node, list):
        return [draft7(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        out.update(_keyword(key, value, node, out))
    if "$ref" in out and len(out) > 1:
        ref = out.pop("$ref")
        out = {"allOf": [{"$ref": ref}], **out}
    return out


def _keyword(key: str, value: Any, node: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    """The draft-07 keyword(s) for one keyword of ``node``."""
    if key in DROP_KEYWORDS or (key == "items" and "prefixItems" in node):
        return {}
    if key in DATA_KEYWORDS:
        return {key: value}
    if key == "$ref":
        return {key: "#/definitions/" + _ref_name(value)}
    if key == "prefixItems":
        tail = {"additionalItems": draft7(node["items"])} if "items" in node else {}
        return {"items": draft7(value), **tail}
    if key in ("dependentRequired", "dependentSchemas"):
        return {"dependencies": {**out.get("dependencies", {}), **draft7(value)}}
    if key in SCHEMA_MAPS:
        return {key: {name: draft7(sub) for name, sub in value.items()}}
    return {key: draft7(value)}


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.add(_ref_name(value))
            else:
                found |= _refs(value)
    elif isinstance(node, list):
        for item in node:
            found |= _refs(item)
    return found


def standalone(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """The schema with every component it needs (transitively) in ``definitions``, in draft-07."""
    needed: set[str] = set()
    todo = _refs(schema)
    while todo:
        name = todo.pop()
        if name in needed:
            continue
        needed.add(name)
        todo |= _refs(components[name])
    root = {"allOf": [draft7(schema)]} if "$ref" in schema else draft7(schema)
    if needed:
        root["definitions"] = {name: draft7(components[name]) for name in sorted(needed)}
    return root


# --- the spec's operations ------------------------------------------------------------------------------------------


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        parts = node["$ref"].removeprefix("#/").split("/")
        target: Any = spec
        for part in parts:
            target = target[part]
        node = target
    return node


def documented(spec: dict[str, Any], operation: dict[str, Any]) -> dict[str, dict[str, Any] | None]:
    """status -> {"type": media type, "schema": draft-07 schema} (None: no body), explicit statuses only."""
    components = spec.get("components", {}).get("schemas", {})
    out: dict[str, dict[str, Any] | None] = {}
    for status, response in operation.get("responses", {}).items():
        if not status.isdigit():
            continue
        content = _resolve(spec, response).get("content", {})
        media = next((t for t in content if t in JSON_TYPES), None)
        if media is None:
            out[status] = None
            continue
        schema = content[media].get("schema")
        out[status] = {"type": media, "schema": standalone(schema, components) if schema else None}
    return out


def success_status(operation: dict[str, Any]) -> int:
    return min(int(s) for s in operation["responses"] if s.isdigit() and s.startswith("2"))


# --- the collection -------------------------------------------------------------------------------------------------


def _template(request: dict[str, Any]) -> str:
    segments = request["url"].get("path", [])
    return "/" + "/".join("{" + s[1:] + "}" if s.startswith(":") else s for s in segments)


def _singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"
    return word[:-1] if word.endswith("s") else word


def _camel(segment: str) -> str:
    """``sla-policies`` -> ``slaPolicy``."""
    words = re.split(r"[^A-Za-z0-9]+", segment)
    words[-1] = _singular(words[-1])
    return words[0].lower() + "".join(w.capitalize() for w in words[1:])


class Builder:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.operations = {
            (method.upper(), path): op
            for path, item in spec["paths"].items()
            for method, op in item.items()
            if isinstance(op, dict) and "responses" in op
        }
        self.variables: dict[str, str] = dict(DIRECTORY)
        self.strict: list[str] = []
        self.lenient: list[str] = []
        self.seen: set[str] = set()
        # collection -> the variable holding the record its POST fixture creates (for /collection/{param}/...)
        self.created: dict[str, str] = {}
        for (method, path), op in self.operations.items():
            segment = path.strip("/")
            if method == "POST" and op["operationId"] in FIXTURES and "{" not in path and self._sibling_params(segment):
                self.created[segment] = self._created_var(segment)

    @staticmethod
    def _created_var(segment: str) -> str:
        if segment == "tickets":
            return "ticketNumber"
        name = _camel(segment)
        return f"new{name[:1].upper()}{name[1:]}Id"

    def _path_values(self, method: str, path: str, params: dict[str, Any]) -> tuple[dict[str, str], bool]:
        """{param: "{{variable}}"} for the request, and whether every value names an existing resource."""
        values, known = {}, True
        segments = path.strip("/").split("/")
        for i, segment in enumerate(segments):
            if not (segment.startswith("{") and segment.endswith("}")):
                continue
            name, parent = segment[1:-1], segments[i - 1] if i else ""
            if parent in self.created:  # made earlier in this run
                variable = self.created[parent]
            elif parent in SEED_FOR_SEGMENT and method != "DELETE":  # a seeded record; never deleted
                variable = SEED_FOR_SEGMENT[parent]
            else:  # nothing known: a placeholder, so the request answers 404
                variable, known = self._created_var(parent or name), False
            if variable not in self.variables:
                integer = params.get(name, {}).get("type") == "integer"
                self.variables[variable] = "999999999" if integer else "newman-missing"
            values[name] = "{{" + variable + "}}"
        return values, known

    def request(self, item: dict[str, Any]) -> dict[str, Any] | None:
        request = item["request"]
        method, path = request["method"].upper(), _template(request)
        op = self.operations.get((method, path))
        if op is None:
            raise SystemExit(f"{method} {path}: in the collection but not in the spec")
        op_id = op["operationId"]
        if op_id in EXCLUDED:
            return None
        self.seen.add(op_id)
        params = {p["name"]: p.get("schema", {}) for p in op.get("parameters", []) if p.get("in") == "path"}
        values, known = self._path_values(method, path, params)
        for variable in request["url"].get("variable", []):
            if variable["key"] in values:
                variable["value"] = values[variable["key"]]
        if FIXTURES.get(op_id) is not None:
            request["body"] = {
                "mode": "raw",
                "raw": json.dumps(FIXTURES[op_id], indent=2, ensure_ascii=False),
                "options": {"raw": {"language": "json"}},
            }
        request.pop("auth", None)
        if op.get("security") == []:
            request["auth"] = {"type": "noauth"}
        strict = op_id in FIXTURES or (method == "GET" and known)
        (self.strict if strict else self.lenient).append(f"{method} {path} ({op_id})")
        creates = method == "POST" and "{" not in path and path.strip("/") in self.created and strict
        script = {"type": "text/javascript", "exec": self._tests(op, strict, creates, path)}
        item["event"] = [{"listen": "test", "script": script}]
        return item

    def _tests(self, op: dict[str, Any], strict: bool, creates: bool, path: str) -> list[str]:
        responses = documented(self.spec, op)
        success = success_status(op)
        lines = [
            f"// Generated by scripts/postman_tests.py from the OpenAPI document ({op['operationId']}): do not edit.",
            f"const documented = {json.dumps(responses, separators=(',', ':'), sort_keys=True)};",
            "const code = String(pm.response.code);",
        ]
        if strict:
            lines += [
                f'pm.test("status is the documented success status {success}", function () {{',
                f"    pm.response.to.have.status({success});",
                "});",
            ]
        else:
            lines += [
                'pm.test("status is documented: " + Object.keys(documented).join(", "), function () {',
                "    pm.expect(Object.keys(documented)).to.include(code);",
                "});",
            ]
        lines += [
            "const expected = documented[code];",
            "if (expected) {",
            '    pm.test("Content-Type is " + expected.type, function () {',
            '        const type = (pm.response.headers.get("Content-Type") || "").split(";")[0].trim();',
            "        pm.expect(type).to.equal(expected.type);",
            "    });",
            "    if (expected.schema) {",
            '        pm.test("body matches the documented schema of " + code, function () {',
            '            pm.response.to.have.jsonSchema(expected.schema, {unknownFormats: "ignore"});',
            "        });",
            "    }",
            "}",
        ]
        if creates:
            segment = path.strip("/")
            variable = self.created[segment]
            key = next((p[1:-1] for p in self._sibling_params(segment)), "id")
            lines += [
                f"if (pm.response.code === {success}) {{",
                "    const body = pm.response.json();",
                f'    const id = body["{key}"] !== undefined ? body["{key}"] : body.id;',
                f'    pm.collectionVariables.set("{variable}", String(id));',
                "}",
            ]
        return lines

    def _sibling_params(self, segment: str) -> list[str]:
        prefix = f"/{segment}/"
        return [p[len(prefix) :].split("/")[0] for (_, p) in self.operations if p.startswith(prefix + "{")]


def _order(item: dict[str, Any]) -> tuple[int, int]:
    request = item["request"]
    method, path = request["method"].upper(), _template(request)
    if method == "POST" and "{" not in path:
        return (0, 0)
    return (METHOD_RANK.get(method, 2), 0)


def _flatten(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for item in items:
        out.extend(_flatten(item["item"]) if "item" in item else [item])
    return out


def _fix_ids(node: Any, trail: str) -> None:
    if isinstance(node, dict):
        if "id" in node and isinstance(node["id"], str) and ("request" in node or "item" in node or "code" in node):
            node["id"] = str(uuid.uuid5(NAMESPACE, trail + "/" + str(node.get("name", ""))))
        for key, value in node.items():
            _fix_ids(value, f"{trail}/{node.get('name', '')}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _fix_ids(value, f"{trail}/{i}")


def build(spec: dict[str, Any], raw: dict[str, Any]) -> tuple[dict[str, Any], Builder]:
    builder = Builder(spec)
    tags = [t["name"] for t in spec.get("tags", [])]
    rank = {tag: i for i, tag in enumerate([*FOLDER_ORDER, *[t for t in tags if t not in FOLDER_ORDER]])}
    folders = []
    for folder in raw["item"]:
        if "request" in folder:  # an operation without a tag lands at the top level
            folder = {"name": "untagged", "item": [folder]}
        requests = [r for r in (builder.request(i) for i in _flatten(folder["item"])) if r is not None]
        requests.sort(key=_order)  # stable: the spec's order within a rank
        if requests:
            folders.append({**folder, "item": requests})
    folders.sort(key=lambda f: rank.get(f["name"], len(rank)))
    missing = sorted({op["operationId"] for op in builder.operations.values()} - builder.seen - set(EXCLUDED))
    if missing:
        raise SystemExit(f"operations missing from the converted collection: {', '.join(missing)}")
    server = spec["servers"][0]["url"]
    collection = {
        "info": {
            **raw["info"],
            "_postman_id": str(uuid.uuid5(NAMESPACE, spec["info"]["title"] + spec["info"]["version"])),
        },
        "item": folders,
        "auth": {"type": "bearer", "bearer": [{"key": "token", "value": "{{apiKey}}", "type": "string"}]},
        "event": [{"listen": "prerequest", "script": {"type": "text/javascript", "exec": RUN_ID}}],
        "variable": [
            {"key": "baseUrl", "value": server},
            {"key": "apiKey", "value": ""},
            *({"key": k, "value": v} for k, v in builder.variables.items()),
        ],
    }
    _fix_ids(collection["item"], "")
    return collection, builder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, required=True)
    parser.add_argument("--raw", type=Path, required=True, help="openapi-to-postmanv2's output")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    spec = json.loads(args.spec.read_text(encoding="utf-8"))
    collection, builder = build(spec, json.loads(args.raw.read_text(encoding="utf-8")))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(collection, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    lines = [f"{args.out}: {len(builder.strict)} strict, {len(builder.lenient)} lenient, {len(EXCLUDED)} excluded"]
    lines += [f"  lenient (no fixture; any documented status): {line}" for line in builder.lenient]
    lines += [f"  excluded {op_id}: {reason}" for op_id, reason in EXCLUDED.items()]
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
