"""Checks an HTTP request against the ARI swagger 1.2 descriptions of Asterisk 22.

Test-only: the product never needs the descriptions at run time.
"""
from __future__ import annotations

import dataclasses
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from multidict import MultiDict

import realtime

# Asterisk 22.10.1's own descriptions, shipped with the simulator (which routes by them).
API_DOCS = Path(realtime.__file__).parent / "telephony" / "sim" / "api-docs"

# `type` of POST /bridges is a comma-separated list whose words only the description names.
_BRIDGE_TYPES = {"mixing", "holding", "dtmf_events", "proxy_media", "video_sfu", "video_single", "sdp_label"}


@dataclasses.dataclass(frozen=True)
class Operation:
    path: str
    method: str
    nickname: str
    params: Mapping[str, Mapping[str, Any]]
    pattern: re.Pattern[str]
    literal_segments: int


@lru_cache(maxsize=1)
def operations() -> tuple[Operation, ...]:
    resources = json.loads((API_DOCS / "resources.json").read_text())
    found = []
    for api in resources["apis"]:
        name = api["path"].rsplit("/", 1)[-1].replace(".{format}", ".json")
        doc = json.loads((API_DOCS / name).read_text())
        for entry in doc["apis"]:
            path = entry["path"]
            regex = "^" + re.sub(r"\{[^/}]+\}", "[^/]+", path) + "$"
            literal = sum(1 for seg in path.split("/") if seg and not seg.startswith("{"))
            for op in entry["operations"]:
                params = {p["name"]: p for p in op.get("parameters", [])}
                found.append(Operation(path, op["httpMethod"], op["nickname"], params,
                                       re.compile(regex), literal))
    return tuple(found)


def find_operation(method: str, path: str) -> Operation:
    """The operation ``method path`` (path below ``/ari``, segments decoded) would reach."""
    matches = [op for op in operations() if op.pattern.match(path)]
    if not matches:
        raise AssertionError(f"no ARI resource at {path}")
    best = max(op.literal_segments for op in matches)
    at_path = [op for op in matches if op.literal_segments == best]
    for op in at_path:
        if op.method == method:
            return op
    raise AssertionError(f"{method} not allowed on {at_path[0].path} (allowed: "
                         f"{sorted(op.method for op in at_path)})")


def validate_request(method: str, path: str, query: MultiDict[str], body: Any) -> Operation:
    """Raise AssertionError naming the first way the request breaks the description."""
    op = find_operation(method, path)
    where = f"{method} {op.path} ({op.nickname})"
    for name in set(query.keys()):
        values = query.getall(name)
        if len(values) > 1:
            raise AssertionError(f"{where}: {name} repeated; ARI keeps only the last, join with commas")
        spec = op.params.get(name)
        if spec is None or spec["paramType"] != "query":
            raise AssertionError(f"{where}: no query parameter {name!r}")
        _check_value(where, name, values[0], spec)
        if op.nickname == "create" and op.path == "/bridges" and name == "type":
            unknown = set(values[0].split(",")) - _BRIDGE_TYPES
            assert not unknown, f"{where}: unknown bridge type {unknown}"
    for name, spec in op.params.items():
        if spec.get("required") and spec["paramType"] == "query" and name not in query:
            raise AssertionError(f"{where}: required query parameter {name!r} missing")
        if spec.get("required") and spec["paramType"] == "body" and not (body and name in body):
            raise AssertionError(f"{where}: required body field {name!r} missing")
    if body is not None:
        if not isinstance(body, dict):
            raise AssertionError(f"{where}: body must be a JSON object")
        for name in body:
            spec = op.params.get(name)
            if spec is None:
                raise AssertionError(f"{where}: no parameter {name!r} for the body")
            if spec["paramType"] == "body" and spec["dataType"] == "containers":
                assert isinstance(body[name], dict), f"{where}: {name} must be an object"
    return op


def _check_value(where: str, name: str, value: str, spec: Mapping[str, Any]) -> None:
    parts = value.split(",") if spec.get("allowMultiple") else [value]
    data_type = spec["dataType"]
    allowed = (spec.get("allowableValues") or {})
    for part in parts:
        if data_type in ("int", "long"):
            assert re.fullmatch(r"-?\d+", part), f"{where}: {name}={part!r} is not an integer"
            if allowed.get("valueType") == "RANGE":
                low, high = allowed.get("min"), allowed.get("max")
                assert (low is None or int(part) >= low) and (high is None or int(part) <= high), \
                    f"{where}: {name}={part} out of range"
        elif data_type == "boolean":
            assert part in ("true", "false"), f"{where}: {name}={part!r} is not true/false"
        if allowed.get("valueType") == "LIST":
            assert part in allowed["values"], f"{where}: {name}={part!r} not one of {allowed['values']}"
