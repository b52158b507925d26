"""API tokens: a service maps ``Authorization: Bearer <token>`` to a user of the registry.

Only the token's SHA-256 is stored (under ``("tokens", <hex digest>)``), so a copy of the
storage does not hand out working tokens. A token carries no role of its own: the user's
membership decides what the token may do, and revoking the membership revokes its reach.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets

import attrs

from registry_core._base import RegistryBase, atomic
from registry_core.convert import from_document, to_document
from registry_core.errors import AlreadyExists, InvalidInput, NotFound, PermissionDenied
from registry_core.limits import check_description, check_user
from registry_core.permissions import Action, Actor

__all__ = ["TOKEN_PREFIX", "TokenInfo"]

TOKEN_PREFIX = "mrt_"
_ID_LENGTH = 16
_TOKEN = re.compile(rf"^{TOKEN_PREFIX}[A-Za-z0-9_-]{{40,64}}$")


@attrs.frozen(kw_only=True)
class TokenInfo:
    """What is known of a token: never the token itself, only its id and owner."""

    id: str
    user: str
    description: str = ""
    created_at: dt.datetime
    created_by: str | None = None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokensMixin(RegistryBase):
    """Create, look up and revoke API tokens (maintainer and up, or a trusted registry)."""

    @atomic
    def create_token(self, user: str, *, description: str = "") -> str:
        """A new secret token for ``user``; shown once, stored only as a hash."""
        self._authorize(Action.MANAGE_MEMBERS)
        check_user(user)
        check_description(description)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        digest = _digest(token)
        info = TokenInfo(
            id=digest[:_ID_LENGTH],
            user=user,
            description=description,
            created_at=self._now(),
            created_by=self._user(),
        )
        try:
            self._repo.put_if_absent(("tokens", digest), to_document(info))
        except AlreadyExists:  # 256 random bits: a collision means a broken RNG
            raise InvalidInput("token generation collided; try again") from None
        return token

    def authenticate(self, token: str) -> Actor:
        """The actor a token stands for; `PermissionDenied` for an unknown or revoked one."""
        if not isinstance(token, str) or not _TOKEN.match(token):
            raise PermissionDenied("not a modelreg token")
        doc = self._repo.get(("tokens", _digest(token)))
        if doc is None:
            raise PermissionDenied("unknown or revoked token")
        return Actor(from_document(doc.data, TokenInfo).user)

    def list_tokens(self, user: str | None = None) -> list[TokenInfo]:
        """Every token (of ``user``, if given), by id."""
        self._authorize(Action.MANAGE_MEMBERS)
        found = [from_document(data, TokenInfo) for _, data in self._all_docs(("tokens",))]
        return [t for t in found if user is None or t.user == user]

    @atomic
    def revoke_token(self, token_id: str) -> TokenInfo:
        """Delete the token with this id (as `list_tokens` shows it)."""
        self._authorize(Action.MANAGE_MEMBERS)
        if not isinstance(token_id, str) or not re.fullmatch(r"[0-9a-f]{16}", token_id):
            raise InvalidInput(f"token id {token_id!r} is not 16 hex digits")
        page = self._repo.list_page(("tokens",), starts_with=token_id, limit=2)
        if not page:
            raise NotFound(f"no token with id {token_id}")
        segment, doc = page[0]
        self._repo.delete(("tokens", segment), etag=doc.etag)
        return from_document(doc.data, TokenInfo)
