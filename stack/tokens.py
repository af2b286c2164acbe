"""JWT access/refresh tokens (HS256) and their revocation.

Every token carries a `jti`; a login starts a session `sid` shared by the pair and by the pairs
that refresh it. Refresh denies the used refresh token (no reuse); logout denies the session,
so the access token and every refresh token of that login stop working at once.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt

from stack.revocations import Revocations

ALGORITHM = "HS256"


class InvalidToken(Exception):
    pass


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    access_ttl_s: int
    refresh_ttl_s: int
    role: str

    def reply(self) -> dict:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": "bearer",
            "expires_in": self.access_ttl_s,
            "refresh_expires_in": self.refresh_ttl_s,
            "role": self.role,
        }


class TokenService:
    def __init__(self, secret: str, revocations: Revocations, access_ttl_s: int, refresh_ttl_s: int) -> None:
        self._secret = secret
        self._revocations = revocations
        self.access_ttl_s = access_ttl_s
        self.refresh_ttl_s = refresh_ttl_s

    def _encode(self, user: dict, kind: str, ttl_s: int, session_id: str) -> str:
        now = int(time.time())
        claims = {
            "sub": user["id"],
            "email": user["email"],
            "role": user["role"],
            "type": kind,
            "iat": now,
            "exp": now + ttl_s,
            "jti": uuid.uuid4().hex,
            "sid": session_id,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def issue(self, user: dict, session_id: str | None = None) -> TokenPair:
        session_id = session_id or uuid.uuid4().hex
        return TokenPair(
            self._encode(user, "access", self.access_ttl_s, session_id),
            self._encode(user, "refresh", self.refresh_ttl_s, session_id),
            self.access_ttl_s,
            self.refresh_ttl_s,
            user["role"],
        )

    async def verify(self, token: str, kind: str) -> dict:
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub", "type"]}
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        if claims.get("type") != kind:
            raise InvalidToken(f"expected a {kind} token")
        keys = [f"deny:jti:{claims.get('jti')}", f"deny:sid:{claims.get('sid')}"]
        if await self._revocations.any_exists(keys):
            raise InvalidToken("token revoked")
        return claims

    async def revoke_token(self, claims: dict) -> None:
        await self._revocations.put(f"deny:jti:{claims['jti']}", "1", self._remaining(claims))

    async def revoke_session(self, claims: dict) -> None:
        # A session lives at most as long as a refresh token issued now.
        await self._revocations.put(f"deny:sid:{claims['sid']}", "1", self.refresh_ttl_s)

    @staticmethod
    def _remaining(claims: dict) -> float:
        return max(1.0, claims["exp"] - time.time())
