"""API errors: each has an HTTP status and a stable kebab-case id, and renders as
``{"error": {"id", "message", "details"}}``.

Services raise them; the error middleware turns them into responses, so handlers never
build an error response by hand.
"""
from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

logger = logging.getLogger(__name__)


class ApiError(Exception):
    status = 400
    error_id = "bad-request"

    def __init__(self, message: str, *, error_id: str | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if error_id is not None:
            self.error_id = error_id
        self.details = details or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.error_id, self.message, self.details)


class BadRequest(ApiError):
    """Malformed JSON, a query parameter of the wrong type."""


class Unauthorized(ApiError):
    status = 401
    error_id = "unauthorized"


class ReadOnlySession(ApiError):
    """A write with only the session cookie: the cookie reads the API, only the key writes,
    so no page of another site can make a signed-in browser change anything."""

    status = 403
    error_id = "read-only-session"


class NotFound(ApiError):
    status = 404
    error_id = "not-found"


class MethodNotAllowed(ApiError):
    status = 405
    error_id = "method-not-allowed"


class RequestTimeout(ApiError):
    """The client stopped sending its request body."""

    status = 408
    error_id = "request-timeout"


class Conflict(ApiError):
    status = 409
    error_id = "conflict"


class PayloadTooLarge(ApiError):
    status = 413
    error_id = "payload-too-large"


class UnsupportedMediaType(ApiError):
    status = 415
    error_id = "unsupported-media-type"


class Invalid(ApiError):
    """Well-formed input the domain refuses; ``details.fields`` names every bad field."""

    status = 422
    error_id = "invalid"

    @classmethod
    def fields(cls, fields: dict[str, str], message: str = "some fields are invalid") -> Invalid:
        return cls(message, details={"fields": fields})


class RateLimited(ApiError):
    status = 429
    error_id = "rate-limited"


class ServerBusy(ApiError):
    """Every database connection is in use: retry after ``Retry-After`` seconds."""

    status = 503
    error_id = "server-busy"


class EngineUnavailable(ApiError):
    """No calling engine answered: what was asked may or may not have happened."""

    status = 503
    error_id = "engine-unavailable"


class BadGateway(ApiError):
    """The PBX answered with an error (or too much) where the API relays what it holds."""

    status = 502
    error_id = "bad-gateway"


def error_body(error_id: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"id": error_id, "message": message, "details": details or {}}}


def error_response(error: ApiError) -> web.Response:
    return web.json_response(error.body(), status=error.status)


# Statuses every authenticated operation may answer, for the OpenAPI document.
DESCRIPTIONS = {
    400: "Malformed JSON or query parameters",
    401: "Missing or wrong api_key/api_auth",
    403: "A write with only the session cookie: writes need api_key and api_auth",
    404: "No such resource in this account",
    405: "Method not allowed",
    408: "The request body stopped arriving",
    409: "Conflicts with existing data",
    413: "Upload too large",
    415: "Unsupported content type",
    422: "Invalid fields; details.fields names every one",
    429: "Rate limit exceeded; see Retry-After",
    502: "The PBX did not give what it holds (an error, or too much)",
    503: "The server is busy (retry after Retry-After seconds), or no calling engine answered (try again)",
}
