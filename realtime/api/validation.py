"""Field declarations: one list per resource gives both the validation of request bodies
and query parameters, and their JSON Schema in the OpenAPI document.

Validation reports every bad field at once (``{"fields": {"name": "required", ...}}``)
and refuses fields it does not know, so a typo never passes silently.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import logging
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from realtime.api.errors import BadRequest, Invalid
from realtime.dialer.phones import InvalidPhoneNumber, to_e164

logger = logging.getLogger(__name__)

MAX_ID = 2**63 - 1
MAX_INT = 2**31 - 1
_TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_INTEGER = re.compile(r"-?[0-9]{1,19}")

KINDS = ("string", "integer", "number", "boolean", "time", "datetime", "object", "array", "id")
NUL = "must not contain NUL characters"
SURROGATE = "must be Unicode text: it holds a lone surrogate"


def unstorable(value: Any) -> str | None:
    """Why a JSON value holds text no database can store, or None.

    JSON may escape a lone UTF-16 surrogate ("\\ud800"), which is no character: it cannot
    be encoded as UTF-8 for SQLite or PostgreSQL. PostgreSQL's text also refuses NUL.
    Object keys and nested values are looked at too, without recursion (JSON may nest as
    deep as the parser allows).
    """
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return NUL
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return SURROGATE
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return None


@dataclasses.dataclass(frozen=True)
class Field:
    """One field of a resource (or one query parameter).

    ``required`` applies on create; ``read_only`` fields are answered, never accepted;
    ``write_only`` ones (passwords) are accepted, never answered. ``check`` returns an
    error message for a value of the right type that is still wrong (a bad time zone).
    """

    name: str
    kind: str = "string"
    description: str = ""
    required: bool = False
    nullable: bool = False
    read_only: bool = False
    write_only: bool = False
    choices: tuple[str, ...] | None = None
    enum: type[enum.Enum] | None = None  # choices are its values; the value becomes a member
    min_length: int | None = None
    max_length: int | None = None
    minimum: int | float | None = None
    maximum: int | float | None = None
    items: Schema | None = None  # for arrays of objects
    check: Callable[[Any], str | None] | None = None
    default: Any = None

    def __post_init__(self) -> None:
        assert self.kind in KINDS, self.kind
        if self.enum is not None and self.choices is None:
            object.__setattr__(self, "choices", tuple(member.value for member in self.enum))

    # -- JSON Schema ------------------------------------------------------------------
    def json_schema(self, mode: str = "read") -> dict[str, Any]:
        kind = self.kind
        schema: dict[str, Any]
        if kind == "id":
            schema = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
        elif kind == "integer":
            schema = {"type": "integer", "minimum": -MAX_INT if self.minimum is None else self.minimum,
                      "maximum": MAX_INT if self.maximum is None else self.maximum}
        elif kind == "number":
            schema = {"type": "number"}
            if self.minimum is not None:
                schema["minimum"] = self.minimum
            if self.maximum is not None:
                schema["maximum"] = self.maximum
        elif kind == "boolean":
            schema = {"type": "boolean"}
        elif kind == "time":
            schema = {"type": "string", "pattern": _TIME.pattern, "examples": ["09:00"]}
        elif kind == "datetime":
            schema = {"type": "string", "format": "date-time"}
        elif kind == "object":
            schema = {"type": "object"}
        elif kind == "array":
            assert self.items is not None
            schema = {"type": "array", "items": self.items.json_schema(mode)}
            if self.max_length is not None:
                schema["maxItems"] = self.max_length
        else:
            schema = {"type": "string"}
            if self.min_length is not None:
                schema["minLength"] = self.min_length
            if self.max_length is not None:
                schema["maxLength"] = self.max_length
        if self.choices is not None:
            schema = {"type": "string", "enum": list(self.choices)}
        if self.nullable:
            schema["type"] = [schema["type"], "null"]
            if "enum" in schema:
                schema["enum"] = [*schema["enum"], None]
        if self.description:
            schema["description"] = self.description
        if self.default is not None:
            schema["default"] = self.default
        if self.read_only:
            schema["readOnly"] = True
        if self.write_only:
            schema["writeOnly"] = True
        return schema

    # -- validation -------------------------------------------------------------------
    def convert(self, value: Any) -> Any:
        """The Python value for a JSON value; ValueError's message says what is wrong."""
        if value is None:
            if self.nullable:
                return None
            raise ValueError("must not be null")
        kind = self.kind
        if self.choices is not None:
            if not isinstance(value, str) or value not in self.choices:
                raise ValueError("must be one of " + ", ".join(self.choices))
            if self.enum is not None:
                value = self.enum(value)
        elif kind in ("integer", "id"):
            if isinstance(value, float) and value.is_integer():
                value = int(value)  # JSON does not tell 3 from 3.0
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError("must be an integer")
            low, high = (1, MAX_ID) if kind == "id" else (
                -MAX_INT if self.minimum is None else self.minimum,
                MAX_INT if self.maximum is None else self.maximum)
            if not low <= value <= high:
                raise ValueError(f"must be between {low} and {high}")
        elif kind == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError("must be a number")
            if self.minimum is not None and value < self.minimum:
                raise ValueError(f"must be at least {self.minimum}")
            if self.maximum is not None and value > self.maximum:
                raise ValueError(f"must be at most {self.maximum}")
            value = Decimal(str(value))
        elif kind == "boolean":
            if not isinstance(value, bool):
                raise ValueError("must be true or false")
        elif kind == "time":
            if not isinstance(value, str) or not _TIME.match(value):
                raise ValueError('must be a time "HH:MM" (24-hour)')
            value = dt.time(int(value[:2]), int(value[3:]))
        elif kind == "object":
            if not isinstance(value, dict):
                raise ValueError("must be an object")
        elif kind == "array":
            if not isinstance(value, list):
                raise ValueError("must be an array")
            if self.max_length is not None and len(value) > self.max_length:
                raise ValueError(f"must have at most {self.max_length} entries")
        elif kind == "string":
            if not isinstance(value, str):
                raise ValueError("must be a string")
            if message := unstorable(value):
                raise ValueError(message)
            if self.min_length is not None and len(value) < self.min_length:
                raise ValueError("required" if self.min_length == 1 else f"must be at least {self.min_length} characters")
            if self.max_length is not None and len(value) > self.max_length:
                raise ValueError(f"must be at most {self.max_length} characters")
        if self.check is not None:
            message = self.check(value)
            if message:
                raise ValueError(message)
        return value

    def parse_query(self, raw: str) -> Any:
        """A query-string value (always text) converted to the field's kind."""
        if message := unstorable(raw):
            raise ValueError(message)
        if self.kind in ("integer", "id"):
            # ASCII digits only: int() also reads " 5", "1_0" and other scripts' digits ("١").
            if not _INTEGER.fullmatch(raw):
                raise ValueError("must be an integer")
            return self.convert(int(raw))
        if self.kind == "boolean":
            if raw.lower() in ("true", "1"):
                return True
            if raw.lower() in ("false", "0"):
                return False
            raise ValueError("must be true or false")
        return self.convert(raw)


@dataclasses.dataclass(frozen=True)
class Schema:
    """The fields of one resource (or of one nested object)."""

    name: str
    fields: tuple[Field, ...]

    def __post_init__(self) -> None:
        assert len({f.name for f in self.fields}) == len(self.fields), self.name

    def json_schema(self, mode: str = "read") -> dict[str, Any]:
        """``mode`` is "read" (answers), "create" (POST body) or "update" (PATCH body)."""
        if mode == "read":
            shown = [f for f in self.fields if not f.write_only]
        else:
            shown = [f for f in self.fields if not f.read_only]
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {f.name: f.json_schema(mode) for f in shown},
            "additionalProperties": False,
        }
        if mode == "create":
            required = [f.name for f in shown if f.required]
        elif mode == "read":
            required = [f.name for f in shown]
        else:
            required = []
        if required:
            schema["required"] = required
        return schema

    def dump(self, row: Any, **values: Any) -> dict[str, Any]:
        """The answer for a model row: every readable field, JSON-ready; ``values`` supply
        (or replace) fields the row has no attribute for."""
        answer: dict[str, Any] = {}
        for field in self.fields:
            if field.write_only:
                continue
            answer[field.name] = values[field.name] if field.name in values else _jsonable(getattr(row, field.name))
        return answer

    def validate(self, body: Any, *, partial: bool = False) -> dict[str, Any]:
        """Converted values of a create (or, ``partial``, an update) body; Invalid names
        every bad field."""
        errors: dict[str, str] = {}
        values = self._collect(body, partial, "", errors)
        if errors:
            raise Invalid.fields(errors)
        return values

    def _collect(self, body: Any, partial: bool, prefix: str, errors: dict[str, str]) -> dict[str, Any]:
        if not isinstance(body, dict):
            errors[prefix.rstrip(".") or "body"] = "must be an object"
            return {}
        known = {f.name: f for f in self.fields if not f.read_only}
        for name in body:
            if name not in known:
                read_only = any(f.name == name for f in self.fields)
                errors[prefix + name] = "read-only field" if read_only else "unknown field"
        values: dict[str, Any] = {}
        for name, field in known.items():
            if name not in body:
                if field.required and not partial:
                    errors[prefix + name] = "required"
                continue
            # Text that cannot be stored is refused here, for every kind of field at once;
            # nested objects name their own fields.
            if not (field.kind == "array" and field.items is not None) and (message := unstorable(body[name])):
                errors[prefix + name] = message
                continue
            try:
                value = field.convert(body[name])
            except ValueError as exc:
                errors[prefix + name] = str(exc)
                continue
            if field.kind == "array" and field.items is not None and value is not None:
                # Nested objects are complete objects even in an update: lists are replaced.
                value = [
                    field.items._collect(item, False, f"{prefix}{name}[{i}].", errors)
                    for i, item in enumerate(value)
                ]
            values[name] = value
        return values


def check_phone(value: str) -> str | None:
    """For ``Field(check=...)``: why ``value`` is no phone number (as imports read numbers), or None."""
    try:
        to_e164(value)
    except InvalidPhoneNumber as exc:
        return exc.reason  # "not a phone number", "too short", "not a valid number", ...
    return None


ID = Field("id", "id", "Identifier", read_only=True)
CREATED_AT = Field("created_at", "datetime", "When it was created (UTC)", read_only=True)


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.strftime("%H:%M")
    if isinstance(value, Decimal):
        return float(value)
    return value


def parse_query(params: Mapping[str, str], fields: tuple[Field, ...]) -> dict[str, Any]:
    """Query parameters by their declarations; BadRequest names every bad one.

    Parameters not declared (api_key, api_auth, cache busters) are ignored: a browser
    address bar should not break on an extra parameter.
    """
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for field in fields:
        raw = params.get(field.name)
        if raw is None:
            if field.default is not None:
                values[field.name] = field.default
            continue
        try:
            values[field.name] = field.parse_query(raw)
        except ValueError as exc:
            errors[field.name] = str(exc)
    if errors:
        raise BadRequest("some query parameters are invalid", error_id="invalid-parameters",
                         details={"parameters": errors})
    return values


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes) -> Any:
    """A request body as JSON (an empty body is ``{}``); BadRequest when it is not UTF-8 JSON."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8 text", error_id="malformed-json") from None
    if not text.strip():
        return {}
    try:
        # Python reads NaN and Infinity, which JSON (and PostgreSQL's json) do not have.
        return json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}", error_id="malformed-json") from None
