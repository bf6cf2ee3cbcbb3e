"""The OpenAPI 3.1 document of one API version, generated from its operations and the pydantic models the
handlers validate with (one source of truth: a field added to a model shows up here by itself)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from psa_chatops import __version__
from psa_chatops.bot.api.operations import Api, Operation
from psa_chatops.bot.api.principal import SCOPES
from psa_chatops.bot.api.problems import PROBLEM_BASE, PROBLEM_JSON, TITLES

REF = "#/components/schemas/{model}"
ERROR_TEXT = {
    400: "Bad request (invalid parameter, malformed JSON)",
    401: "Not authenticated",
    403: "Missing scope, or not allowed for this key",
    404: "Not found (or outside the key's customer scope)",
    409: "Conflict with the current state",
    412: "If-Match does not match the current version",
    413: "Body too large",
    415: "Body is not JSON",
    422: "Validation failed, or Idempotency-Key reused with another body",
    429: "Rate limit exceeded",
}
RATE_HEADERS = {
    name: {"description": text, "schema": {"type": "string" if name == "RateLimit-Policy" else "integer"}}
    for name, text in (
        ("RateLimit-Limit", "bucket size"),
        ("RateLimit-Remaining", "requests left in the bucket"),
        ("RateLimit-Reset", "seconds until the bucket is full"),
        ("RateLimit-Policy", 'e.g. 200;w=4;name="per-key"'),
    )
}


def document(api: Api, *, server_url: str, root: str) -> dict[str, Any]:
    schemas, refs = _schemas(api.operations)
    paths: dict[str, Any] = {}
    for op in api.operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": api.title + (" (beta)" if api.beta else ""),
            "version": __version__,
            "description": api.description,
            "x-api-version": api.version,
        },
        "servers": [{"url": server_url.rstrip("/") + root}],
        "security": [{"bearer": []}, {"apiKey": []}, {"oauth2": []}],
        "tags": [{"name": tag} for tag in sorted({op.tag for op in api.operations})],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": _security(server_url), "responses": _problems()},
    }


Refs = dict[tuple[Any, str], dict[str, Any]]


def _schemas(operations: list[Operation]) -> tuple[dict[str, Any], Refs]:
    """Component schemas, and the $ref of each (model, mode): a model whose input and output differ gets two."""
    models: list[tuple[type[BaseModel], Any]] = []
    for op in operations:
        if op.body is not None:
            models.append((op.body, "validation"))
        if op.response is not None:
            models.append((op.response, "serialization"))
    unique = list(dict.fromkeys(models))
    refs, top = models_json_schema(unique, ref_template=REF) if unique else ({}, {})
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    schemas["Problem"] = _problem_schema()
    return schemas, {(model, str(mode)): ref for (model, mode), ref in refs.items()}


def _operation(op: Operation, refs: Refs) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": _parameters(op),
        "responses": _responses(op, refs),
    }
    if op.description:
        spec["description"] = op.description
    if op.body is not None:
        spec["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
        }
    if op.public:
        spec["security"] = []
    elif op.scopes:
        spec["security"] = [{"bearer": []}, {"apiKey": []}, {"oauth2": list(op.scopes)}]
        spec["x-required-scopes"] = list(op.scopes)
    if op.successor:
        spec["deprecated"] = True
    return spec


def _parameters(op: Operation) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    if op.params is not None:
        schema = op.params.model_json_schema(ref_template=REF)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            where = "path" if name in op.path_names else "query"
            param: dict[str, Any] = {"name": name, "in": where, "required": where == "path" or name in required}
            if "description" in prop:
                param["description"] = prop["description"]
            param["schema"] = {k: v for k, v in prop.items() if k not in ("description", "title")}
            params.append(param)
    if op.if_match:
        params.append(_header("If-Match", "the ETag you read; 412 when the ticket changed since", ETAG))
    if op.method == "GET":
        params.append(_header("If-None-Match", "an ETag you hold; 304 when unchanged", ETAG))
    if op.method == "POST" and not op.public:
        params.append(
            _header("Idempotency-Key", "retry safely: the same key and body return the first response", IDEMPOTENCY_KEY)
        )
    return params


ETAG = {"type": "string", "pattern": r'^(\*|(W/)?"[^"]*")$', "examples": ['"t12345-v7"']}
IDEMPOTENCY_KEY = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[\x21-\x7e][\x20-\x7e]*$"}


def _header(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": False, "description": description, "schema": schema}


def _responses(op: Operation, refs: Refs) -> dict[str, Any]:
    headers: dict[str, Any] = dict(RATE_HEADERS)
    if op.response is not None:
        headers["ETag"] = {"description": "validator for If-None-Match / If-Match", "schema": {"type": "string"}}
    if op.successor:
        headers["Deprecation"] = {"description": "when this operation was deprecated", "schema": {"type": "string"}}
        headers["Sunset"] = {"description": "when it stops working", "schema": {"type": "string"}}
    text = {200: "OK", 201: "Created", 202: "Accepted", 204: "No content"}.get(op.status, "Success")
    ok: dict[str, Any] = {"description": text, "headers": headers}
    if op.response is not None:
        ok["content"] = {"application/json": {"schema": refs[(op.response, "serialization")]}}
    responses: dict[str, Any] = {str(op.status): ok}
    for status in op.also:
        responses[str(status)] = {**ok, "description": {200: "OK", 201: "Created"}.get(status, "Success")}
    if op.method == "GET":
        responses["304"] = {"description": "Not modified (If-None-Match)"}
    for status in sorted({*op.errors, 429}):
        responses[str(status)] = {"$ref": f"#/components/responses/E{status}"}
    responses["default"] = {"$ref": "#/components/responses/Error"}
    return responses


def _problems() -> dict[str, Any]:
    content = {PROBLEM_JSON: {"schema": {"$ref": REF.format(model="Problem")}}}
    out = {f"E{status}": {"description": text, "content": content} for status, text in ERROR_TEXT.items()}
    out["Error"] = {"description": "Any other error (problem+json)", "content": content}
    return out


def _problem_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "RFC 9457 problem details. `type` is stable: branch on it.",
        "required": ["type", "title", "status"],
        "properties": {
            "type": {"type": "string", "enum": [PROBLEM_BASE + slug for slug in TITLES]},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "request_id": {"type": ["string", "null"]},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"loc": {"type": "string"}, "msg": {"type": "string"}, "type": {"type": "string"}},
                },
            },
        },
    }


def _security(server_url: str) -> dict[str, Any]:
    base = server_url.rstrip("/")
    return {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key (`psa_...`) or an OAuth2 access token (JWT) as `Authorization: Bearer ...`",
        },
        "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        "oauth2": {
            "type": "oauth2",
            "description": "Client credentials: client_id = the key's id, client_secret = the whole key",
            "flows": {"clientCredentials": {"tokenUrl": f"{base}/oauth/token", "scopes": dict(SCOPES)}},
        },
    }
