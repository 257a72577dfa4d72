"""The OpenAPI 3.1 document, written from the resource declarations (never by hand)."""
from __future__ import annotations

import logging
from typing import Any

from realtime.api.errors import DESCRIPTIONS
from realtime.api.pagination import PAGE_SCHEMA_PROPERTIES
from realtime.api.routing import COLLECTION, ITEM, NO_CONTENT, Operation, Resource
from realtime.api.validation import MAX_ID

logger = logging.getLogger(__name__)

SECURITY_SCHEMES = {
    "basic": {"type": "http", "scheme": "basic", "description": "api_key as user name, api_auth as password"},
    "apiKey": {"type": "apiKey", "in": "query", "name": "api_key"},
    "apiAuth": {"type": "apiKey", "in": "query", "name": "api_auth"},
    "session": {"type": "apiKey", "in": "cookie", "name": "realtime_session",
                "description": "A signed-in admin's or supervisor's session (sign in at /login): reads only"},
}
SECURITY = [{"basic": []}, {"apiKey": [], "apiAuth": []}]
READ_SECURITY = [*SECURITY, {"session": []}]

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["id", "message", "details"],
            "properties": {
                "id": {"type": "string", "pattern": "^[a-z0-9]+(-[a-z0-9]+)*$"},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
        }
    },
}
ACTIONS_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["name", "method", "uri"],
        "properties": {"name": {"type": "string"}, "method": {"type": "string"},
                       "uri": {"type": "string", "format": "uri"}},
    },
}
RATE_HEADERS = {
    name: {"description": text, "required": True, "schema": {"type": "integer", "minimum": 0}}
    for name, text in (
        ("X-RateLimit-Limit", "Requests allowed per window (per API key)"),
        ("X-RateLimit-Remaining", "Requests left in the window"),
        ("X-RateLimit-Reset", "Unix time (seconds) when a request slot frees up"),
    )
}

RETRY_AFTER = {"Retry-After": {"description": "Seconds until a request will be accepted", "required": True,
                               "schema": {"type": "integer", "minimum": 1}}}


# A busy server says when to retry; a 503 for a missing component (imports-unavailable) does not.
BUSY_RETRY_AFTER = {"Retry-After": {**RETRY_AFTER["Retry-After"], "required": False}}


def item_schema_name(resource: Resource) -> str:
    return "".join(part.capitalize() for part in resource.name.split("_"))


def build_document(resources: list[Resource], extra: list[Operation], server_url: str | None = None) -> dict[str, Any]:
    components: dict[str, Any] = {
        "securitySchemes": SECURITY_SCHEMES,
        "schemas": {"Error": ERROR_SCHEMA, "Actions": ACTIONS_SCHEMA},
        "responses": {
            str(status): {
                "description": text,
                "headers": RATE_HEADERS | (RETRY_AFTER if status == 429 else BUSY_RETRY_AFTER if status == 503 else {}),
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
            for status, text in DESCRIPTIONS.items()
        },
    }
    paths: dict[str, Any] = {}
    for resource in resources:
        if resource.schema is not None:
            name = item_schema_name(resource)
            item = resource.schema.json_schema("read")
            item["properties"] |= {"uri": {"type": "string", "format": "uri"},
                                   "actions": {"$ref": "#/components/schemas/Actions"}}
            item["required"] = [*item.get("required", []), "uri", "actions"]
            components["schemas"][name] = item
        for op in resource.operations:
            paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, components)
    for op in extra:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, components)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Impact Dialing realtime API",
            "version": "1",
            "description": (
                "Admin REST API. Authenticate with api_key and api_auth as query parameters or "
                "HTTP Basic credentials; a signed-in admin's or supervisor's session cookie reads "
                "(GET, HEAD) but never writes (403 read-only-session). Every request is one transaction. Errors answer "
                "{error: {id, message, details}}; 422 names every bad field in details.fields. "
                "Text fields refuse NUL characters and lone UTF-16 surrogates, which no database stores."
            ),
        },
        "paths": paths,
        "components": components,
        "tags": [{"name": r.name, "description": r.description} for r in resources],
    }
    if server_url:
        document["servers"] = [{"url": server_url}]
    return document


def _operation(op: Operation, components: dict[str, Any]) -> dict[str, Any]:
    resource = op.resource
    doc: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [resource.name],
    }
    parameters = [
        {"name": name, "in": "path", "required": True, "example": "a-17", "schema": {"type": "string", "minLength": 1}}
        if name in op.text_params else
        {"name": name, "in": "path", "required": True, "example": 1,
         "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID}}
        for name in op.path_params
    ]
    parameters += [
        {"name": f.name, "in": "query", "required": False, "schema": f.json_schema("query"),
         **({"description": f.description} if f.description else {})}
        for f in op.query
    ]
    if parameters:
        doc["parameters"] = parameters
    if op.body is not None:
        doc["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": op.body.json_schema("update" if op.partial else "create")}},
        }
    elif op.upload is not None:
        doc["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": op.upload}}}
    elif op.request is not None:
        doc["requestBody"] = {"required": True, "content": {kind: {"schema": schema}
                                                            for kind, schema in op.request.items()}}

    responses: dict[str, Any] = {str(op.status): _success(op, components)}
    statuses = set(op.errors) | {400, 405, 429, 503}  # 503: no database connection came free
    if not op.public:
        statuses |= {401} if op.method == "GET" else {401, 403}
    if op.path_params:
        statuses |= {404}
    if op.body is not None or op.upload is not None:
        statuses |= {408, 415}  # a body that stops arriving; one of another type
    for status in sorted(statuses):
        responses[str(status)] = {"$ref": f"#/components/responses/{status}"}
    doc["responses"] = responses
    doc["security"] = [] if op.public else READ_SECURITY if op.method == "GET" else SECURITY
    return doc


def _success(op: Operation, components: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = {"description": op.summary, "headers": RATE_HEADERS}
    ref = op.items or {"$ref": f"#/components/schemas/{item_schema_name(op.resource)}"}
    if op.response == NO_CONTENT:
        return response
    if op.response == ITEM:
        schema: dict[str, Any] = ref
    elif op.response == COLLECTION:
        schema = {
            "type": "object",
            "required": ["uri", "name", "actions", "resources", "next_page", "prev_page",
                         "first_page", "last_page", "total", "total_estimated", "page", "limit"],
            "properties": {
                "uri": {"type": "string", "format": "uri"},
                "name": {"type": "string"},
                "actions": {"$ref": "#/components/schemas/Actions"},
                "resources": {"type": "array", "items": ref},
                **PAGE_SCHEMA_PROPERTIES,
            },
        }
    elif isinstance(op.response, str):  # a media type: a file
        response["content"] = {op.response: {"schema": {"type": "string", "format": "binary"}}}
        return response
    else:
        schema = op.response
    response["content"] = {"application/json": {"schema": schema}}
    return response
