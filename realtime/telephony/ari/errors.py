"""ARI failures as domain errors with stable kebab-case ids.

Every error keeps the HTTP status and the text Asterisk sent (``message``), so a log
line or an API error can show what Asterisk actually said.
"""
from __future__ import annotations


class AriError(Exception):
    """An ARI request failed. ``error_id`` is stable; ``message`` is Asterisk's text."""

    error_id = "ari-error"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def __str__(self) -> str:
        where = f"{self.status} " if self.status is not None else ""
        return f"{self.error_id}: {where}{self.message}"


class AriNotFound(AriError):
    """404 on a resource that is not a channel, bridge or playback (or an unknown URL)."""

    error_id = "ari-not-found"


class NoSuchChannel(AriNotFound):
    error_id = "no-such-channel"


class NoSuchBridge(AriNotFound):
    error_id = "no-such-bridge"


class NoSuchPlayback(AriNotFound):
    error_id = "no-such-playback"


class NoSuchRecording(AriNotFound):
    error_id = "no-such-recording"


class AriBadRequest(AriError):
    """400: a parameter Asterisk refused (also: an unknown channel id in addChannel)."""

    error_id = "ari-bad-request"


class AriUnauthorized(AriError):
    """401/403: wrong ARI user or password, a read-only user, or an ACL refusal."""

    error_id = "ari-unauthorized"


class AriConflict(AriError):
    """409: e.g. channel not in Stasis (still ringing), duplicate channel or bridge id."""

    error_id = "ari-conflict"


class AriInvalidState(AriError):
    """412: the channel is in a state that does not allow the operation (e.g. ``Down``)."""

    error_id = "ari-invalid-state"


class AriUnprocessable(AriError):
    """422: e.g. channel not in this bridge, event source does not exist."""

    error_id = "ari-unprocessable"


class TelephonyUnavailable(AriError):
    """Asterisk cannot be reached or failed (5xx, connection refused/reset, timeout)."""

    error_id = "telephony-unavailable"


class EndpointUnreachable(TelephonyUnavailable):
    """Originate refused with 500 ``Allocation failed``: this endpoint cannot be dialled
    (unknown technology, trunk down, no channel available). Catch it before
    :class:`TelephonyUnavailable`: the rest of telephony is fine."""

    error_id = "endpoint-unreachable"


_BY_STATUS: dict[int, type[AriError]] = {
    400: AriBadRequest,
    401: AriUnauthorized,
    403: AriUnauthorized,
    404: AriNotFound,
    409: AriConflict,
    412: AriInvalidState,
    422: AriUnprocessable,
}


def error_for_status(
    status: int,
    message: str,
    *,
    not_found: type[AriNotFound] = AriNotFound,
    allocation_failure: type[AriError] = TelephonyUnavailable,
) -> AriError:
    """The domain error for an ARI error reply.

    ``not_found`` is what a 404 means for the resource the request was about;
    ``allocation_failure`` is what 500 ``Allocation failed`` means (for originate: the
    endpoint cannot be dialled).
    """
    if status == 404:
        return not_found(message, status=status)
    if status == 500 and message == "Allocation failed":
        return allocation_failure(message, status=status)
    if status >= 500:
        return TelephonyUnavailable(message, status=status)
    return _BY_STATUS.get(status, AriError)(message, status=status)
