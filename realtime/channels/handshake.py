"""Who may open a socket: the sign-in cookie says who, the ``Origin`` says from where.

A refusal reaches the client as ``connect_error`` with ``{id, message}`` (also under
``data``, where socket.io-client puts what the server adds to the error).
"""
from __future__ import annotations

from typing import Any, NoReturn

from socketio.exceptions import ConnectionRefusedError
from yarl import URL

from realtime.sessions import Identity, SessionSigner, identity_from_cookie_header, live_identity_from_cookie_header
from realtime.store.database import Store


class HandshakeRefused(Exception):
    def __init__(self, error_id: str, message: str) -> None:
        super().__init__(message)
        self.error_id = error_id
        self.message = message


def refuse(refused: HandshakeRefused) -> NoReturn:
    error = ConnectionRefusedError(refused.message)
    error.error_args = {"id": refused.error_id, "message": refused.message,
                        "data": {"id": refused.error_id, "message": refused.message}}
    raise error


def same_origin(origin: str | None, host: str | None) -> bool:
    """A page of this site (or no ``Origin`` at all: not a browser, nothing to ride on)."""
    if origin is None:
        return True
    if origin == "null" or not host:
        return False
    try:
        return URL(origin).host_port_subcomponent == URL(f"//{host}").host_port_subcomponent
    except ValueError:
        return False


async def signed_in(environ: dict[str, Any], store: Store, signer: SessionSigner) -> Identity:
    """The person the handshake's cookie names, from one of this site's pages, with a
    sign-in that is still live (not signed out, revoked or deactivated)."""
    if not same_origin(environ.get("HTTP_ORIGIN"), environ.get("HTTP_HOST")):
        raise HandshakeRefused("bad-origin", "Connect from this site's own pages.")
    header = environ.get("HTTP_COOKIE")
    identity = await live_identity_from_cookie_header(header, store, signer)
    if identity is not None:
        return identity
    if identity_from_cookie_header(header, signer) is not None:
        raise HandshakeRefused("session-ended", "Your sign-in has ended (signed out or deactivated); sign in again.")
    raise HandshakeRefused("not-signed-in", "Sign in first.")


async def caller_identity(environ: dict[str, Any], store: Store, signer: SessionSigner) -> Identity:
    identity = await signed_in(environ, store, signer)
    if identity.kind != "caller":
        raise HandshakeRefused("not-a-caller", "Only callers can open the caller app.")
    return identity
