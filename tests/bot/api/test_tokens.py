"""OAuth2 tokens: ES256 issue/verify, the JWKS, attacks refused with the right reason, and an Entra-like IdP."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from pytest_aiohttp import AiohttpServer

from psa_chatops.bot.api.tokens import (
    ExternalIssuer,
    IdentityProviderUnavailable,
    InvalidToken,
    SigningKey,
    TokenIssuer,
    TokenVerifier,
    jwk_thumbprint,
    jwks_document,
    load_or_create_signing_key,
)
from tests.bot.conftest import Monotonic
from tests.conftest import FrozenClock

ISSUER = "https://psa.example.com"
AUDIENCE = "https://psa.example.com/api"
ENTRA_ISSUER = "https://login.microsoftonline.com/0e3a0a4c-tenant/v2.0"
ENTRA_AUDIENCE = "6f1f2a8e-api-client-id"
SCOPES = ("tickets:read", "tickets:write")

RsaKeys = tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]


@pytest.fixture
def key() -> SigningKey:
    return load_or_create_signing_key(None)


@pytest.fixture
def issuer(key: SigningKey) -> TokenIssuer:
    return TokenIssuer(key, issuer=ISSUER, audience=AUDIENCE)


@pytest.fixture
def verifier(key: SigningKey) -> TokenVerifier:
    return TokenVerifier([key], issuer=ISSUER, audience=AUDIENCE)


@pytest.fixture(scope="module")
def rsa_keys() -> RsaKeys:
    """Generated once, outside the event loop: RSA key generation is slow."""
    return (
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


def issue(issuer: TokenIssuer, clock: FrozenClock, customers: tuple[str, ...] | None = None) -> str:
    return issuer.issue(subject="apikey:k1", scopes=SCOPES, customer_ids=customers, now=clock.now()).access_token


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], payload: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


def unverified_payload(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


async def refused(verifier: TokenVerifier, token: str, now: datetime) -> str:
    with pytest.raises(InvalidToken) as caught:
        await verifier.verify(token, now=now)
    assert not token or token not in str(caught.value)
    return caught.value.reason


# --- our own tokens ---------------------------------------------------------------------------------------------


async def test_issued_token_round_trips_with_scopes_and_customers(
    issuer: TokenIssuer, verifier: TokenVerifier, clock: FrozenClock
) -> None:
    issued = issuer.issue(subject="apikey:k1", scopes=SCOPES, customer_ids=["c-1", "c-2"], now=clock.now())

    claims = await verifier.verify(issued.access_token, now=clock.now())

    assert claims.subject == "apikey:k1"
    assert claims.scopes == frozenset(SCOPES)
    assert claims.customer_ids == ("c-1", "c-2")
    assert claims.issuer == ISSUER
    assert claims.expires_at == clock.now() + timedelta(seconds=900)
    assert claims.token_id == unverified_payload(issued.access_token)["jti"]
    assert not claims.external


async def test_issued_token_response_and_claims(issuer: TokenIssuer, key: SigningKey, clock: FrozenClock) -> None:
    issued = issuer.issue(subject="apikey:k1", scopes=[*SCOPES, "tickets:read"], customer_ids=None, now=clock.now())

    assert issued.as_json() == {
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": 900,
        "scope": "tickets:read tickets:write",
    }
    assert issued.access_token not in repr(issued)
    assert jwt.get_unverified_header(issued.access_token)["kid"] == key.kid
    payload = unverified_payload(issued.access_token)
    assert payload["scope"] == "tickets:read tickets:write"
    assert "psa_customers" not in payload
    assert payload["exp"] - payload["iat"] == 900
    assert len(payload["jti"]) == 32


async def test_empty_customer_list_stays_a_restriction(
    issuer: TokenIssuer, verifier: TokenVerifier, clock: FrozenClock
) -> None:
    claims = await verifier.verify(issue(issuer, clock, customers=()), now=clock.now())

    assert claims.customer_ids == ()


def test_issuer_rejects_bad_input(issuer: TokenIssuer, clock: FrozenClock) -> None:
    with pytest.raises(ValueError, match="scope"):
        issuer.issue(subject="s", scopes=["tickets read"], customer_ids=None, now=clock.now())
    with pytest.raises(ValueError, match="timezone-aware"):
        issuer.issue(subject="s", scopes=SCOPES, customer_ids=None, now=clock.now().replace(tzinfo=None))


async def test_jwks_publishes_the_kid_and_lets_an_integrator_verify(key: SigningKey) -> None:
    other = load_or_create_signing_key(None)
    document = jwks_document([key, other])
    now = datetime.now(UTC)  # PyJWT checks against the system clock
    token = TokenIssuer(key, issuer=ISSUER, audience=AUDIENCE).issue(
        subject="apikey:k1", scopes=SCOPES, customer_ids=None, now=now
    )

    assert [jwk["kid"] for jwk in document["keys"]] == [key.kid, other.kid]
    assert all(jwk["use"] == "sig" and jwk["alg"] == "ES256" and "d" not in jwk for jwk in document["keys"])
    keyset = jwt.PyJWKSet.from_dict(document)
    kid = jwt.get_unverified_header(token.access_token)["kid"]
    payload = jwt.decode(token.access_token, keyset[kid], algorithms=["ES256"], audience=AUDIENCE, issuer=ISSUER)
    assert payload["sub"] == "apikey:k1"


def test_kid_is_the_rfc7638_thumbprint(key: SigningKey) -> None:
    rfc7638_example = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjB"
            "ZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8"
            "KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_"
            "xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        ),
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert jwk_thumbprint(rfc7638_example) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    assert key.kid == jwk_thumbprint(key.public_jwk)


async def test_pem_key_keeps_its_kid_across_restarts(key: SigningKey, clock: FrozenClock) -> None:
    pem = key.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    before_restart = TokenIssuer(load_or_create_signing_key(pem), issuer=ISSUER, audience=AUDIENCE)
    after_restart = TokenVerifier([load_or_create_signing_key(pem)], issuer=ISSUER, audience=AUDIENCE)

    claims = await after_restart.verify(issue(before_restart, clock), now=clock.now())

    assert load_or_create_signing_key(pem).kid == key.kid
    assert claims.subject == "apikey:k1"


def test_only_p256_pem_keys_load(rsa_keys: RsaKeys) -> None:
    rsa_pem = (
        rsa_keys[0]
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    with pytest.raises(ValueError, match="P-256"):
        load_or_create_signing_key(rsa_pem)
    with pytest.raises(ValueError, match="not an unencrypted PEM"):
        load_or_create_signing_key("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")


async def test_clock_skew_leeway_is_30_seconds(
    issuer: TokenIssuer, verifier: TokenVerifier, clock: FrozenClock
) -> None:
    token = issue(issuer, clock)
    issued_at = clock.now()

    assert await verifier.verify(token, now=issued_at + timedelta(seconds=900 + 29))
    assert await verifier.verify(token, now=issued_at - timedelta(seconds=29))
    assert await refused(verifier, token, issued_at + timedelta(seconds=900 + 31)) == "token expired"
    assert await refused(verifier, token, issued_at - timedelta(seconds=31)) == "token not yet valid"


async def test_wrong_audience_and_unknown_issuer(key: SigningKey, verifier: TokenVerifier, clock: FrozenClock) -> None:
    elsewhere = TokenIssuer(key, issuer=ISSUER, audience="https://other.example.com")
    impostor = TokenIssuer(key, issuer="https://evil.example.com", audience=AUDIENCE)

    assert await refused(verifier, issue(elsewhere, clock), clock.now()) == "wrong audience"
    assert await refused(verifier, issue(impostor, clock), clock.now()) == "unknown issuer"


async def test_tampered_payload_is_a_bad_signature(
    issuer: TokenIssuer, verifier: TokenVerifier, clock: FrozenClock
) -> None:
    token = issue(issuer, clock)
    header, _, signature = token.split(".")
    payload = unverified_payload(token) | {"scope": "admin"}
    tampered = f"{header}.{b64(json.dumps(payload).encode())}.{signature}"

    assert await refused(verifier, tampered, clock.now()) == "bad signature"


async def test_another_key_under_our_kid_is_a_bad_signature(
    key: SigningKey, verifier: TokenVerifier, clock: FrozenClock
) -> None:
    other = load_or_create_signing_key(None)
    spoof = SigningKey(kid=key.kid, private_key=other.private_key, public_jwk=other.public_jwk)

    token = issue(TokenIssuer(spoof, issuer=ISSUER, audience=AUDIENCE), clock)

    assert await refused(verifier, token, clock.now()) == "bad signature"


async def test_unknown_kid_malformed_and_missing_claims(
    key: SigningKey, verifier: TokenVerifier, clock: FrozenClock
) -> None:
    stranger = TokenIssuer(load_or_create_signing_key(None), issuer=ISSUER, audience=AUDIENCE)
    iat = int(clock.now().timestamp())
    no_exp = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "s", "iat": iat, "jti": "j"},
        key.private_key,
        algorithm="ES256",
        headers={"kid": key.kid},
    )

    assert await refused(verifier, issue(stranger, clock), clock.now()) == "unknown key id"
    assert await refused(verifier, "not.a.jwt", clock.now()) == "malformed token"
    assert await refused(verifier, "", clock.now()) == "malformed token"
    assert await refused(verifier, no_exp, clock.now()) == "missing claim exp"


async def test_alg_none_is_refused(
    issuer: TokenIssuer, key: SigningKey, verifier: TokenVerifier, clock: FrozenClock
) -> None:
    payload = unverified_payload(issue(issuer, clock))
    token = forge({"alg": "none", "typ": "JWT", "kid": key.kid}, payload, lambda _: b"")

    assert await refused(verifier, token, clock.now()) == "algorithm not allowed"


async def test_hs256_signed_with_our_public_key_is_refused(
    issuer: TokenIssuer, key: SigningKey, verifier: TokenVerifier, clock: FrozenClock
) -> None:
    public_pem = key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    payload = unverified_payload(issue(issuer, clock))
    token = forge(
        {"alg": "HS256", "typ": "JWT", "kid": key.kid},
        payload,
        lambda data: hmac.new(public_pem, data, hashlib.sha256).digest(),
    )

    assert await refused(verifier, token, clock.now()) == "algorithm not allowed"


async def test_verify_needs_an_aware_now(issuer: TokenIssuer, verifier: TokenVerifier, clock: FrozenClock) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await verifier.verify(issue(issuer, clock), now=clock.now().replace(tzinfo=None))


# --- an external identity provider (Entra ID's wire format) --------------------------------------------------------


@dataclass
class FakeIdp:
    """A loopback stand-in for ``login.microsoftonline.com/<tenant>/discovery/v2.0/keys``."""

    url: str = ""
    jwks: dict[str, Any] = field(default_factory=lambda: {"keys": []})
    status: int = 200
    requests: int = 0

    def serve(self, *keys: tuple[rsa.RSAPrivateKey, str]) -> None:
        self.jwks = {"keys": [entra_jwk(private, kid) for private, kid in keys]}


def entra_jwk(private: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    public = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    return {"kty": "RSA", "use": "sig", "kid": kid, "x5t": kid, "n": public["n"], "e": public["e"]}


def entra_token(private: rsa.RSAPrivateKey, kid: str, now: datetime, **claims: Any) -> str:
    issued_at = int(now.timestamp())
    payload = {
        "aud": ENTRA_AUDIENCE,
        "iss": ENTRA_ISSUER,
        "iat": issued_at,
        "nbf": issued_at,
        "exp": issued_at + 3600,
        "sub": "entra-subject",
        "oid": "entra-object-id",
        "tid": "0e3a0a4c-tenant",
        "uti": "entra-uti",
        "ver": "2.0",
        **claims,
    }
    return jwt.encode(payload, private, algorithm="RS256", headers={"kid": kid, "typ": "JWT"})


@pytest.fixture
async def idp(aiohttp_server: AiohttpServer, rsa_keys: RsaKeys) -> FakeIdp:
    fake = FakeIdp()
    fake.serve((rsa_keys[0], "kid-a"))

    async def keys(request: web.Request) -> web.Response:
        fake.requests += 1
        return web.json_response(fake.jwks, status=fake.status)

    app = web.Application()
    app.router.add_get("/tenant/discovery/v2.0/keys", keys)
    server = await aiohttp_server(app)
    fake.url = str(server.make_url("/tenant/discovery/v2.0/keys"))
    return fake


@pytest.fixture
async def entra_verifier(key: SigningKey, idp: FakeIdp, monotonic: Monotonic) -> AsyncIterator[TokenVerifier]:
    entra = ExternalIssuer(issuer=ENTRA_ISSUER, jwks_url=idp.url, audience=ENTRA_AUDIENCE)
    verifier = TokenVerifier([key], issuer=ISSUER, audience=AUDIENCE, external=[entra], monotonic=monotonic)
    yield verifier
    await verifier.close()


async def test_entra_delegated_and_application_scopes(
    entra_verifier: TokenVerifier, rsa_keys: RsaKeys, clock: FrozenClock
) -> None:
    delegated = entra_token(rsa_keys[0], "kid-a", clock.now(), scp="tickets:read tickets:write")
    application = entra_token(rsa_keys[0], "kid-a", clock.now(), roles=["directory:read", "alerts:write"])

    user = await entra_verifier.verify(delegated, now=clock.now())
    app = await entra_verifier.verify(application, now=clock.now())

    assert user.scopes == frozenset({"tickets:read", "tickets:write"})
    assert app.scopes == frozenset({"directory:read", "alerts:write"})
    assert (user.subject, user.issuer, user.token_id, user.customer_ids) == (
        "entra-subject",
        ENTRA_ISSUER,
        "entra-uti",
        None,
    )
    assert user.external
    assert user.expires_at == clock.now() + timedelta(hours=1)


async def test_entra_token_checks_run_too(
    entra_verifier: TokenVerifier,
    idp: FakeIdp,
    rsa_keys: RsaKeys,
    clock: FrozenClock,
) -> None:
    wrong_audience = entra_token(rsa_keys[0], "kid-a", clock.now(), aud="someone-else")
    signed_by_stranger = entra_token(rsa_keys[1], "kid-a", clock.now())
    later = clock.now() + timedelta(hours=2)

    assert await refused(entra_verifier, wrong_audience, clock.now()) == "wrong audience"
    assert await refused(entra_verifier, signed_by_stranger, clock.now()) == "bad signature"
    assert await refused(entra_verifier, entra_token(rsa_keys[0], "kid-a", clock.now()), later) == "token expired"
    assert idp.requests == 1


async def test_junk_for_an_external_issuer_never_reaches_the_idp(
    entra_verifier: TokenVerifier, idp: FakeIdp, clock: FrozenClock
) -> None:
    payload = {"iss": ENTRA_ISSUER, "aud": ENTRA_AUDIENCE, "sub": "s"}
    none_token = forge({"alg": "none", "kid": "kid-a"}, payload, lambda _: b"")
    hs_token = forge({"alg": "HS256", "kid": "kid-a"}, payload, lambda data: hmac.new(b"k", data, "sha256").digest())

    assert await refused(entra_verifier, none_token, clock.now()) == "algorithm not allowed"
    assert await refused(entra_verifier, hs_token, clock.now()) == "algorithm not allowed"
    assert idp.requests == 0


async def test_key_rotation_refetches_at_most_once_a_minute(
    entra_verifier: TokenVerifier,
    idp: FakeIdp,
    rsa_keys: RsaKeys,
    monotonic: Monotonic,
    clock: FrozenClock,
) -> None:
    old, new = rsa_keys
    await entra_verifier.verify(entra_token(old, "kid-a", clock.now()), now=clock.now())
    idp.serve((old, "kid-a"), (new, "kid-b"))
    monotonic.advance(timedelta(seconds=61))

    claims = await entra_verifier.verify(entra_token(new, "kid-b", clock.now()), now=clock.now())
    assert claims.subject == "entra-subject"
    assert idp.requests == 2

    unknown = entra_token(new, "kid-c", clock.now())
    assert await refused(entra_verifier, unknown, clock.now()) == "unknown key id"
    monotonic.advance(timedelta(seconds=59))
    assert await refused(entra_verifier, unknown, clock.now()) == "unknown key id"
    assert idp.requests == 2  # the second refetch waits for the minute to pass
    monotonic.advance(timedelta(seconds=1))
    assert await refused(entra_verifier, unknown, clock.now()) == "unknown key id"
    assert idp.requests == 3


async def test_cache_expires_and_survives_an_idp_outage(
    entra_verifier: TokenVerifier,
    idp: FakeIdp,
    rsa_keys: RsaKeys,
    monotonic: Monotonic,
    clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = entra_token(rsa_keys[0], "kid-a", clock.now())
    await entra_verifier.verify(token, now=clock.now())
    monotonic.advance(timedelta(seconds=3599))
    await entra_verifier.verify(token, now=clock.now())
    assert idp.requests == 1

    monotonic.advance(timedelta(seconds=1))
    idp.status = 503
    with caplog.at_level(logging.WARNING, logger="psa_chatops.api.tokens"):
        claims = await entra_verifier.verify(token, now=clock.now())

    assert claims.subject == "entra-subject"  # the cached keys still serve
    assert idp.requests == 2
    assert "keeping the cached keys" in caplog.text


async def test_idp_down_with_a_cold_cache(
    key: SigningKey,
    aiohttp_server: AiohttpServer,
    rsa_keys: RsaKeys,
    clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = await aiohttp_server(web.Application())
    url = str(server.make_url("/keys"))
    await server.close()  # nothing listens there any more
    entra = ExternalIssuer(issuer=ENTRA_ISSUER, jwks_url=url, audience=ENTRA_AUDIENCE)
    token = entra_token(rsa_keys[0], "kid-a", clock.now())

    async with aiohttp.ClientSession() as session:
        verifier = TokenVerifier([key], issuer=ISSUER, audience=AUDIENCE, external=[entra], session=session)
        with (
            caplog.at_level(logging.WARNING, logger="psa_chatops.api.tokens"),
            pytest.raises(IdentityProviderUnavailable) as caught,
        ):
            await verifier.verify(token, now=clock.now())
        await verifier.close()
        assert not session.closed  # the caller's session stays the caller's

    assert caught.value.reason == "identity provider unavailable"
    assert isinstance(caught.value, InvalidToken)
    assert "JWKS of" in caplog.text
    assert token not in caplog.text


async def test_idp_error_status_with_a_cold_cache(
    entra_verifier: TokenVerifier,
    idp: FakeIdp,
    rsa_keys: RsaKeys,
    clock: FrozenClock,
) -> None:
    idp.status = 500
    token = entra_token(rsa_keys[0], "kid-a", clock.now())

    assert await refused(entra_verifier, token, clock.now()) == "identity provider unavailable"
    idp.status = 200
    assert await entra_verifier.verify(token, now=clock.now())  # a cold cache retries on the next request
    assert idp.requests == 2


async def test_concurrent_verifications_share_one_fetch(
    entra_verifier: TokenVerifier,
    idp: FakeIdp,
    rsa_keys: RsaKeys,
    clock: FrozenClock,
) -> None:
    tokens = [entra_token(rsa_keys[0], "kid-a", clock.now(), sub=f"app-{n}") for n in range(20)]

    claims = await asyncio.gather(*(entra_verifier.verify(token, now=clock.now()) for token in tokens))

    assert {c.subject for c in claims} == {f"app-{n}" for n in range(20)}
    assert idp.requests == 1


async def test_concurrent_verifications_share_one_failed_fetch(
    entra_verifier: TokenVerifier, idp: FakeIdp, rsa_keys: RsaKeys, clock: FrozenClock
) -> None:
    idp.status = 503
    token = entra_token(rsa_keys[0], "kid-a", clock.now())

    results = await asyncio.gather(
        *(entra_verifier.verify(token, now=clock.now()) for _ in range(20)), return_exceptions=True
    )

    assert all(isinstance(result, IdentityProviderUnavailable) for result in results)
    assert idp.requests == 1


def test_external_issuers_only_allow_asymmetric_algorithms() -> None:
    for algorithms in (("HS256",), ("none",), ("RS256", "HS512"), ()):
        with pytest.raises(ValueError, match="asymmetric"):
            ExternalIssuer(issuer=ENTRA_ISSUER, jwks_url="https://x/keys", audience="a", algorithms=algorithms)
    with pytest.raises(ValueError, match="own issuer"):
        TokenVerifier([], issuer=ISSUER, audience=AUDIENCE, external=[ExternalIssuer(ISSUER, "https://x/k", "a")])
