"""Access tokens (signed JWTs) and API-key hashing."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from finales.domain.principals import Principal, Role
from finales.errors import Unauthorized
from finales.services.auth import (
    JWT_ALGORITHM,
    _key_digest,
    issue_token,
    principal_id_from_token,
)

SECRET = "a-test-signing-secret-that-is-long-enough-0123456789"
OTHER_SECRET = "another-signing-secret-that-is-long-enough-9876543210"
PRINCIPAL = Principal(id="p-123", name="bot-a", role=Role.TENANT, tenant_id="t-1")


def now() -> datetime:
    return datetime.now(UTC)


def refused(token: str, secret: str = SECRET) -> Unauthorized:
    with pytest.raises(Unauthorized) as caught:
        principal_id_from_token(token, secret=secret)
    assert caught.value.status_code == 401
    return caught.value


def test_token_round_trip() -> None:
    token = issue_token(PRINCIPAL, secret=SECRET, ttl_s=60, now=now())
    assert principal_id_from_token(token, secret=SECRET) == "p-123"


def test_token_carries_expiry_and_a_unique_id() -> None:
    issued = now()
    token = issue_token(PRINCIPAL, secret=SECRET, ttl_s=600, now=issued)
    claims = jwt.decode(token, SECRET, algorithms=[JWT_ALGORITHM])
    assert claims["sub"] == PRINCIPAL.id
    assert claims["exp"] == pytest.approx(issued.timestamp() + 600, abs=0.001)
    assert abs(claims["iat"] - issued.timestamp()) < 1
    again = issue_token(PRINCIPAL, secret=SECRET, ttl_s=600, now=issued)
    assert again != token  # jti differs, so two logins give two tokens


def test_expired_token_is_refused_with_a_reason() -> None:
    token = issue_token(PRINCIPAL, secret=SECRET, ttl_s=1, now=now() - timedelta(hours=1))
    assert "expired" in refused(token).detail


def test_token_signed_with_another_secret_is_refused() -> None:
    token = issue_token(PRINCIPAL, secret=OTHER_SECRET, ttl_s=60, now=now())
    assert "expired" not in refused(token).detail


def test_unsigned_token_is_refused() -> None:
    claims = {"sub": PRINCIPAL.id, "exp": int((now() + timedelta(hours=1)).timestamp())}
    token = jwt.encode(claims, key=None, algorithm="none")
    refused(token)


def test_hand_made_alg_none_token_is_refused() -> None:
    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    exp = int((now() + timedelta(hours=1)).timestamp())
    for alg in ("none", "None", "NONE"):
        token = f"{part({'alg': alg, 'typ': 'JWT'})}.{part({'sub': 'admin', 'exp': exp})}."
        refused(token)


def test_token_with_another_algorithm_is_refused() -> None:
    claims = {"sub": PRINCIPAL.id, "exp": int((now() + timedelta(hours=1)).timestamp())}
    refused(jwt.encode(claims, SECRET + SECRET, algorithm="HS512"), secret=SECRET + SECRET)


def test_token_without_expiry_is_refused() -> None:
    refused(jwt.encode({"sub": PRINCIPAL.id}, SECRET, algorithm=JWT_ALGORITHM))


def test_token_without_subject_is_refused() -> None:
    exp = int((now() + timedelta(hours=1)).timestamp())
    refused(jwt.encode({"exp": exp}, SECRET, algorithm=JWT_ALGORITHM))


def test_tampered_token_is_refused() -> None:
    token = issue_token(PRINCIPAL, secret=SECRET, ttl_s=60, now=now())
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    refused(f"{header}.{forged}.{signature}")


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "fk_abc_def", "Bearer x.y.z"])
def test_malformed_token_is_refused(token: str) -> None:
    refused(token)


# ------------------------------------------------------------------------------ API keys


def test_key_digest_is_deterministic_and_distinguishes_keys() -> None:
    assert _key_digest("key-one") == _key_digest("key-one")
    assert _key_digest("key-one") != _key_digest("key-two")
    assert _key_digest("key-one") != _key_digest("key-one ")


def test_key_digest_does_not_contain_the_key() -> None:
    digest = _key_digest("abcdef0123456789")
    assert "abcdef0123456789" not in digest
    assert len(digest) == 64
    int(digest, 16)  # hexadecimal
