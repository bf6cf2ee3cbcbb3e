"""``scripts/postman_tests.py`` on a synthetic spec: the parts the current API does not exercise yet (operations
without a fixture, deletes, directory path values) and the 2020-12 -> draft-07 schema conversion."""

from __future__ import annotations

import importlib.util
import json
from types import ModuleType
from typing import Any

import pytest
from jsonschema import Draft7Validator

from tests.e2e.conftest import ROOT


@pytest.fixture(scope="module")
def pt() -> ModuleType:
    spec = importlib.util.spec_from_file_location("postman_tests", ROOT / "scripts" / "postman_tests.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


WIDGET = {
    "type": "object",
    "required": ["id", "size", "owner"],
    "properties": {
        "id": {"type": "string"},
        "size": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "items": False},
        "owner": {"$ref": "#/components/schemas/Owner", "description": "who owns it"},
        "tags": {"type": ["array", "null"], "items": {"type": "string"}},
    },
    "unevaluatedProperties": False,
}
OWNER = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "format": "idn-email"}}}


def _op(op_id: str, status: str, schema: str | None = None, **extra: Any) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "ok"}
    if schema:
        ok["content"] = {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
    responses = {status: ok, "404": {"$ref": "#/components/responses/E404"}, "default": {"description": "any"}}
    return {"operationId": op_id, "summary": op_id, "tags": ["widgets"], "responses": responses, **extra}


SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "t", "version": "1"},
    "servers": [{"url": "http://127.0.0.1:8080/api/v1"}],
    "tags": [{"name": "widgets"}, {"name": "tickets"}],
    "paths": {
        "/widgets": {
            "get": _op("listWidgets", "200", "Widget"),
            "post": _op("createWidget", "201", "Widget"),
        },
        "/widgets/{widget_id}": {
            "delete": _op("deleteWidget", "204"),
            "get": _op("getWidget", "200", "Widget"),
        },
        "/customers/{customer_id}/widgets": {"get": _op("customerWidgets", "200", "Widget")},
        "/sandbox/tokens": {"post": _op("createSandboxToken", "201", "Owner", security=[])},
        "/tickets": {"post": {**_op("createTicket", "201", "Widget"), "tags": ["tickets"]}},
        "/tickets/{number}": {"delete": {**_op("deleteTicket", "204"), "tags": ["tickets"]}},
    },
    "components": {
        "schemas": {"Widget": WIDGET, "Owner": OWNER},
        "responses": {
            "E404": {
                "description": "nope",
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Owner"}}},
            }
        },
    },
}


def _item(method: str, path: str) -> dict[str, Any]:
    segments = [":" + s[1:-1] if s.startswith("{") else s for s in path.strip("/").split("/")]
    variables = [{"key": s[1:], "value": "<string>"} for s in segments if s.startswith(":")]
    url = {"host": ["{{baseUrl}}"], "path": segments, "variable": variables}
    return {"name": f"{method} {path}", "request": {"method": method, "url": url, "auth": None}}


RAW = {
    "info": {"name": "t"},
    "item": [
        {
            "name": "widgets",
            "item": [
                _item("DELETE", "/widgets/{widget_id}"),
                _item("GET", "/widgets/{widget_id}"),
                _item("GET", "/widgets"),
                _item("POST", "/widgets"),
                _item("GET", "/customers/{customer_id}/widgets"),
                _item("POST", "/sandbox/tokens"),
            ],
        },
        {"name": "tickets", "item": [_item("DELETE", "/tickets/{number}"), _item("POST", "/tickets")]},
    ],
}


def _requests(collection: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["name"]: i for folder in collection["item"] for i in folder["item"]}


def test_collection_order_auth_variables_and_strictness(pt: ModuleType) -> None:
    collection, builder = pt.build(SPEC, json.loads(json.dumps(RAW)))
    assert [f["name"] for f in collection["item"]] == ["tickets", "widgets"]
    widgets = [i["name"] for i in collection["item"][1]["item"]]
    assert widgets[0] == "POST /widgets"
    assert widgets[-1] == "DELETE /widgets/{widget_id}"
    assert collection["auth"]["bearer"][0]["value"] == "{{apiKey}}"
    variables = {v["key"]: v["value"] for v in collection["variable"]}
    assert variables["baseUrl"] == "http://127.0.0.1:8080/api/v1"
    assert variables["apiKey"] == ""
    assert variables["newWidgetId"] == "newman-missing"  # nothing creates a widget for sure: deletes hit nothing
    requests = _requests(collection)
    assert "auth" not in requests["GET /widgets"]["request"]  # inherits the bearer key
    assert requests["POST /sandbox/tokens"]["request"]["auth"] == {"type": "noauth"}
    value = {
        n: i["request"]["url"]["variable"][0]["value"] for n, i in requests.items() if i["request"]["url"]["variable"]
    }
    assert value["GET /customers/{customer_id}/widgets"] == "{{customerId}}"
    assert value["DELETE /widgets/{widget_id}"] == "{{newWidgetId}}"
    assert value["DELETE /tickets/{number}"] == "{{ticketNumber}}"  # the ticket POST /tickets created
    assert [i["name"] for i in collection["item"][0]["item"]] == ["POST /tickets", "DELETE /tickets/{number}"]
    assert "POST /tickets (createTicket)" in builder.strict  # a fixture
    assert "DELETE /tickets/{number} (deleteTicket)" in builder.lenient  # no fixture, though its target is known
    assert "GET /widgets (listWidgets)" in builder.strict  # a read that needs nothing
    assert "GET /customers/{customer_id}/widgets (customerWidgets)" in builder.strict  # a directory value
    assert "POST /widgets (createWidget)" in builder.lenient
    assert "GET /widgets/{widget_id} (getWidget)" in builder.lenient
    created = "".join(requests["POST /tickets"]["event"][0]["script"]["exec"])
    assert 'pm.collectionVariables.set("ticketNumber"' in created
    assert json.loads(requests["POST /tickets"]["request"]["body"]["raw"])["customer_id"] == "{{customerId}}"
    lenient = "\n".join(requests["POST /widgets"]["event"][0]["script"]["exec"])
    assert "pm.expect(Object.keys(documented)).to.include(code)" in lenient
    documented = json.loads(lenient.split("const documented = ", 1)[1].split(";\n", 1)[0])
    assert set(documented) == {"201", "404"}  # "default" does not count as documented
    assert documented["404"]["type"] == "application/problem+json"


def test_an_operation_the_converter_dropped_is_an_error(pt: ModuleType) -> None:
    raw = json.loads(json.dumps(RAW))
    raw["item"][0]["item"].pop()
    with pytest.raises(SystemExit, match="createSandboxToken"):
        pt.build(SPEC, raw)


def test_schemas_become_standalone_draft7(pt: ModuleType) -> None:
    schema = pt.standalone({"$ref": "#/components/schemas/Widget"}, SPEC["components"]["schemas"])
    assert set(schema["definitions"]) == {"Widget", "Owner"}
    widget = schema["definitions"]["Widget"]
    assert widget["properties"]["size"] == {"type": "array", "items": [{"type": "integer"}, {"type": "string"}]} | {
        "additionalItems": False
    }
    assert widget["properties"]["owner"] == {"allOf": [{"$ref": "#/definitions/Owner"}], "description": "who owns it"}
    assert "unevaluatedProperties" not in widget
    Draft7Validator.check_schema(schema)
    validator = Draft7Validator(schema)
    good = {"id": "w1", "size": [3, "cm"], "owner": {"name": "a@b.c"}, "tags": None}
    assert list(validator.iter_errors(good)) == []
    for bad in (
        {"id": "w1", "size": [3, "cm", 4], "owner": {"name": "x"}},
        {"id": "w1", "size": [3, "cm"], "owner": {}},
        {"id": 1, "size": [3, "cm"], "owner": {"name": "x"}},
    ):
        assert list(validator.iter_errors(bad)), bad
