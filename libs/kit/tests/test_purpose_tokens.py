"""Purpose-bound tokens: each allows its one purpose and nothing else, and cannot be forged."""
from __future__ import annotations

import time
import uuid

import jwt
import pytest
from pur_kit.auth import InvalidPurposeToken, PurposeTokens, decode_token, mint_token
from pur_kit.config import DEV_JWT_SECRET
from pur_kit.errors import ApiError

SECRET = DEV_JWT_SECRET
UNSUBSCRIBE = PurposeTokens(SECRET, "digest-unsubscribe")


def test_a_token_carries_its_subject_and_district_back():
    user = str(uuid.uuid4())
    claims = UNSUBSCRIBE.verify(UNSUBSCRIBE.mint(user, "springfield"))
    assert (claims.subject, claims.district_id) == (user, "springfield")
    assert abs(claims.issued_at - time.time()) < 3600


def test_a_token_without_ttl_has_no_expiry_and_one_with_a_ttl_expires():
    forever = UNSUBSCRIBE.mint("u1", "springfield", now=time.time() - 10 * 365 * 86400)
    assert "exp" not in jwt.decode(forever, options={"verify_signature": False})
    assert UNSUBSCRIBE.verify(forever).subject == "u1"
    short = PurposeTokens(SECRET, "digest-unsubscribe", ttl_seconds=60)
    assert short.verify(short.mint("u1")).subject == "u1"
    with pytest.raises(InvalidPurposeToken):
        short.verify(short.mint("u1", now=time.time() - 120))
    with pytest.raises(InvalidPurposeToken):   # a token without exp where one is required
        short.verify(UNSUBSCRIBE.mint("u1"))


def test_a_session_token_is_not_a_purpose_token():
    session = mint_token(SECRET, sub=str(uuid.uuid4()), district_id="springfield")
    system = mint_token(SECRET, sub="system", system=True)
    for token in (session, system):
        with pytest.raises(InvalidPurposeToken):
            UNSUBSCRIBE.verify(token)


def test_a_purpose_token_is_not_a_session_token():
    token = UNSUBSCRIBE.mint(str(uuid.uuid4()), "springfield")
    with pytest.raises(ApiError) as refused:
        decode_token(token, SECRET)
    assert refused.value.status == 401
    with pytest.raises(ApiError):   # not even with an expiry, which decode_token requires
        decode_token(PurposeTokens(SECRET, "digest-unsubscribe", ttl_seconds=600).mint(str(uuid.uuid4()), "x"),
                     SECRET)


def test_a_token_of_another_purpose_is_refused():
    other = PurposeTokens(SECRET, "something-else").mint("u1", "springfield")
    with pytest.raises(InvalidPurposeToken):
        UNSUBSCRIBE.verify(other)


def test_a_token_claiming_the_purpose_but_signed_with_the_shared_secret_is_refused():
    """Knowing the claim layout is not enough: the key is derived from the secret and the purpose."""
    forged = jwt.encode({"purpose": "digest-unsubscribe", "sub": "u1", "iat": int(time.time())}, SECRET,
                        algorithm="HS256")
    with pytest.raises(InvalidPurposeToken):
        UNSUBSCRIBE.verify(forged)


def test_a_token_of_another_secret_or_tampered_or_garbage_is_refused():
    token = UNSUBSCRIBE.mint("u1", "springfield")
    header, _, signature = token.split(".")
    tampered_claims = jwt.utils.base64url_encode(b'{"purpose":"digest-unsubscribe","sub":"u2","iat":1}').decode()
    unsigned = jwt.encode({"purpose": "digest-unsubscribe", "sub": "u1", "iat": 1}, None, algorithm="none")
    for bad in (PurposeTokens("another-secret-of-at-least-32-bytes!!", "digest-unsubscribe").mint("u1"),
                f"{header}.{tampered_claims}.{signature}", unsigned, "", "not.a.token", "x" * 5000):
        with pytest.raises(InvalidPurposeToken):
            UNSUBSCRIBE.verify(bad)
