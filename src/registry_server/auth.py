"""Who is calling: ``Authorization`` to a registry opened for that user.

``Bearer <token>``, or ``Basic`` with the token as the password (the MLflow client sends
Basic when ``MLFLOW_TRACKING_USERNAME``/``PASSWORD`` are set; the user name is ignored:
the token alone says who it is). No header means an anonymous caller, so a private
registry refuses it. Neither a token nor a header value ever appears in a message.
"""

from __future__ import annotations

import base64
import binascii

from registry_core import PermissionDenied, Registry
from registry_server.errors import ApiError

__all__ = ["registry_for", "token_from_header"]


def token_from_header(header: str | None) -> str | None:
    """The token an ``Authorization`` header carries; None without a header."""
    if header is None or not header.strip():
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise ApiError.unauthenticated("the Basic credentials are not valid base64") from None
        _, sep, password = decoded.partition(":")
        if sep and password:
            return password
        raise ApiError.unauthenticated("Basic credentials need the token as the password")
    raise ApiError.unauthenticated("use 'Authorization: Bearer <token>' (or Basic)")


def registry_for(base: Registry, header: str | None, *, trust_anonymous: bool) -> Registry:
    """``base`` opened for the caller the header names (anonymous without one).

    With ``trust_anonymous`` a caller without a header gets ``base`` itself, unchecked:
    only for a server that nobody else can reach.
    """
    token = token_from_header(header)
    if token is None:
        return base if trust_anonymous else base.as_actor(None)
    try:
        actor = base.authenticate(token)
    except PermissionDenied:
        raise ApiError.unauthenticated("the token is unknown or revoked") from None
    return base.as_actor(actor)
