"""HS256 bearer tokens: a person (`sub` = directory user id) or the system/operator credential.

Tokens only say who is calling. What they may do is decided by each service from its own
projection of the directory.
"""
from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from uuid import UUID

import jwt
from fastapi import Request

from .errors import ApiError, unauthorized

SESSION_COOKIE = "pur_session"


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    district_id: str | None
    is_system: bool
    token: str
    expires_at: float = 0.0  # the token's `exp` (Unix time)

    @property
    def user_id(self) -> UUID | None:
        if self.is_system:
            return None
        try:
            return UUID(self.subject)
        except ValueError:
            return None


def mint_token(secret: str, *, sub: str, district_id: str | None = None, system: bool = False,
               ttl_seconds: int = 3600) -> str:
    claims: dict = {"sub": "system" if system else sub, "exp": int(time.time()) + ttl_seconds,
                    "iat": int(time.time())}
    if system:
        claims["role"] = "system"
    else:
        claims["district_id"] = district_id
    return jwt.encode(claims, secret, algorithm="HS256")


def decode_token(token: str, secret: str) -> Principal:
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        raise unauthorized("token expired") from None
    except jwt.InvalidTokenError:
        raise unauthorized("invalid token") from None
    if claims.get("role") == "system" and claims.get("sub") == "system":
        return Principal("system", None, True, token, float(claims["exp"]))
    district_id = claims.get("district_id")
    if not isinstance(district_id, str) or not district_id:
        raise unauthorized("token has no district_id")
    try:
        UUID(str(claims["sub"]))
    except ValueError:
        raise unauthorized("token subject is not a user id") from None
    return Principal(str(claims["sub"]), district_id, False, token, float(claims["exp"]))


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"


def token_from_request(request: Request, secret: str) -> str | None:
    """The caller's token: a bearer header, or the browser's session cookie.

    A browser sends the cookie with any cross-site form post, whatever its Content-Type, so the
    cookie stands for the caller only on safe methods, or with an `X-CSRF-Token` header matching
    it (another site's page cannot read the token, nor set a custom header without CORS consent).
    """
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value:
            return value.strip()
        raise unauthorized("Authorization header must be 'Bearer <token>'")
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie or request.method in SAFE_METHODS:
        return cookie
    if csrf_valid(secret, cookie, request.headers.get(CSRF_HEADER)):
        return cookie
    raise ApiError(403, "csrf_failed",
                   "the session cookie needs a matching X-CSRF-Token header here; API clients send a bearer token")


def principal_dependency(secret_of: callable):
    """A FastAPI dependency returning the caller's Principal, or raising 401."""

    async def current_principal(request: Request) -> Principal:
        secret = secret_of(request)
        token = token_from_request(request, secret)
        if not token:
            raise unauthorized("missing bearer token")
        return decode_token(token, secret)

    return current_principal


def csrf_token(secret: str, session_token: str) -> str:
    """Bound to the session cookie, so a page from another site cannot forge a form post."""
    return hmac.new(secret.encode(), b"csrf:" + session_token.encode(), hashlib.sha256).hexdigest()


def csrf_valid(secret: str, session_token: str | None, presented: str | None) -> bool:
    if not session_token or not presented:
        return False
    return hmac.compare_digest(csrf_token(secret, session_token), presented)


# --- purpose-bound tokens ------------------------------------------------------------------------
class InvalidPurposeToken(ValueError):
    """A purpose token that is malformed, forged, expired, or minted for another purpose."""


@dataclass(frozen=True, slots=True)
class PurposeClaims:
    subject: str
    district_id: str | None
    issued_at: int


class PurposeTokens:
    """Signed tokens that allow one thing only, e.g. a link in an email (`purpose="digest-unsubscribe"`).

    They are HS256 JWTs signed with a key derived from the shared secret *and the purpose*
    (HMAC-SHA256(secret, "pur-purpose:" + purpose)), not with the secret itself, and they carry a
    `purpose` claim that is checked too. So a session or bearer token is never accepted here
    (wrong key, no purpose), and a purpose token is never accepted as a session or bearer token by
    `decode_token` (wrong key), nor for another purpose: holding one grants only its purpose.
    Rotating `JWT_SECRET` revokes them all. `ttl_seconds=None` mints tokens without `exp`, for
    links that must keep working for as long as the email is kept (the purpose must then be
    harmless to repeat and reversible).
    """

    def __init__(self, secret: str, purpose: str, *, ttl_seconds: int | None = None) -> None:
        if not purpose:
            raise ValueError("a purpose token needs a purpose")
        self.purpose = purpose
        self.ttl_seconds = ttl_seconds
        self._key = hmac.new(secret.encode(), b"pur-purpose:" + purpose.encode(), hashlib.sha256).digest()

    def mint(self, sub: str, district_id: str | None = None, *, now: float | None = None) -> str:
        issued = int(time.time() if now is None else now)
        claims: dict = {"purpose": self.purpose, "sub": sub, "iat": issued}
        if district_id is not None:
            claims["district_id"] = district_id
        if self.ttl_seconds is not None:
            claims["exp"] = issued + self.ttl_seconds
        return jwt.encode(claims, self._key, algorithm="HS256")

    def verify(self, token: str) -> PurposeClaims:
        """The token's claims; InvalidPurposeToken (without saying which check failed) otherwise."""
        required = ["purpose", "sub", "iat"] + (["exp"] if self.ttl_seconds is not None else [])
        try:
            claims = jwt.decode(token, self._key, algorithms=["HS256"], options={"require": required})
        except (jwt.InvalidTokenError, TypeError, ValueError):
            raise InvalidPurposeToken("invalid token") from None
        district_id = claims.get("district_id")
        if (claims["purpose"] != self.purpose or not isinstance(claims["sub"], str) or not claims["sub"]
                or not (district_id is None or isinstance(district_id, str))):
            raise InvalidPurposeToken("invalid token")
        return PurposeClaims(claims["sub"], district_id, int(claims["iat"]))
