"""OAuth2 access tokens for the REST API: ES256 JWTs we issue for the client-credentials grant, the JWKS that
publishes their public keys, and a verifier for bearer JWTs — ours, and those of external identity providers
(e.g. Microsoft Entra ID), chosen by the token's ``iss``.

Every signature and claim check is PyJWT's, with an explicit algorithm allow-list per issuer (never ``none``,
never HS* against a public key). This module only routes a token to the right keys, fetches and caches external
JWKS, and turns PyJWT's exceptions into short reasons that are safe to show a client (:class:`InvalidToken`).
Tokens are never logged nor put into a message.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import aiohttp
import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

logger = logging.getLogger("psa_chatops.api.tokens")

ALGORITHM: Final = "ES256"
DEFAULT_TTL_SECONDS: Final = 900
LEEWAY_SECONDS: Final = 30
REQUIRED_CLAIMS: Final = ("exp", "iat", "iss", "aud", "sub")
CUSTOMERS_CLAIM: Final = "psa_customers"
ASYMMETRIC_ALGORITHMS: Final = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
UNAVAILABLE: Final = "identity provider unavailable"

_THUMBPRINT_MEMBERS: Final[Mapping[str, tuple[str, ...]]] = {
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "OKP": ("crv", "kty", "x"),
}
# Most specific first: InvalidSignatureError is a DecodeError, and everything else falls back to "malformed token".
_REASONS: Final[tuple[tuple[type[jwt.PyJWTError], str], ...]] = (
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token not yet valid"),
    (jwt.InvalidAudienceError, "wrong audience"),
    (jwt.InvalidIssuerError, "unknown issuer"),
    (jwt.InvalidSignatureError, "bad signature"),
    (jwt.InvalidAlgorithmError, "algorithm not allowed"),
    (jwt.InvalidKeyError, "unusable key"),
)


class InvalidToken(Exception):  # noqa: N818 - the name the gateway and its tests use
    """A bearer token we refuse. ``reason`` is short and safe to return to the client (RFC 6750
    ``error_description``); it never contains the token."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class IdentityProviderUnavailable(InvalidToken):
    """The external IdP's keys could not be fetched: our outage, not the client's fault (answer 503, not 401)."""

    def __init__(self) -> None:
        super().__init__(UNAVAILABLE)


# --- signing keys ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    """An ES256 key pair. ``kid`` is the RFC 7638 thumbprint, so a key has the same id in every replica and after
    every restart without a registry. Equality is by ``kid``."""

    kid: str
    private_key: ec.EllipticCurvePrivateKey = field(repr=False, compare=False)
    public_jwk: dict[str, str] = field(compare=False)  # with kid, use="sig" and alg="ES256"


def load_or_create_signing_key(pem: str | None) -> SigningKey:
    """The signing key from an unencrypted PEM P-256 private key (PKCS#8 or SEC1), or — when ``pem`` is None — a
    fresh key held in memory only. That is for the sandbox and tests: every token it signed stops verifying when
    the process ends, and each replica would sign with its own key. Production must configure the PEM.

    Raises ValueError (without key material in the message) for anything but an unencrypted P-256 key.
    """
    private_key = ec.generate_private_key(ec.SECP256R1()) if pem is None else _load_pem(pem)
    return _signing_key(private_key)


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 thumbprint (base64url SHA-256 of the required members, canonical JSON): a key id that is derived
    from the key itself."""
    members = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None:
        raise ValueError(f"no RFC 7638 thumbprint for key type {jwk.get('kty')!r}")
    canonical = json.dumps({name: jwk[name] for name in members}, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def jwks_document(keys: Sequence[SigningKey]) -> dict[str, list[dict[str, str]]]:
    """The JWKS to serve (e.g. at ``/.well-known/jwks.json``). Publish the new key next to the old one for at least
    one token lifetime when rotating, so tokens signed by either verify."""
    return {"keys": [dict(key.public_jwk) for key in keys]}


def _load_pem(pem: str) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ValueError("the JWT signing key is not an unencrypted PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("the JWT signing key must be an EC P-256 private key (ES256)")
    return key


def _signing_key(private_key: ec.EllipticCurvePrivateKey) -> SigningKey:
    public = {name: str(value) for name, value in ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True).items()}
    kid = jwk_thumbprint(public)
    return SigningKey(
        kid=kid, private_key=private_key, public_jwk={**public, "kid": kid, "use": "sig", "alg": ALGORITHM}
    )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --- issuing ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class IssuedToken:
    """A token endpoint's answer. The token is left out of ``repr`` so it cannot end up in a log by accident."""

    access_token: str = field(repr=False)
    expires_in: int
    scope: str
    token_type: str = "Bearer"  # noqa: S105 - the RFC 6750 token type, not a secret

    def as_json(self) -> dict[str, str | int]:
        """The RFC 6749 §5.1 body; serve it with ``Cache-Control: no-store``."""
        return {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "scope": self.scope,
        }


class TokenIssuer:
    """Signs access tokens for the client-credentials grant. They are short-lived because a JWT cannot be revoked:
    a disabled client keeps access until its last token expires."""

    def __init__(self, key: SigningKey, *, issuer: str, audience: str, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        if ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be > 0, got {ttl_seconds!r}")
        if not issuer or not audience:
            raise ValueError("issuer and audience must not be empty")
        self._key = key
        self._issuer = issuer
        self._audience = audience
        self._ttl = ttl_seconds

    @property
    def key(self) -> SigningKey:
        return self._key

    def issue(
        self, *, subject: str, scopes: Sequence[str], customer_ids: Sequence[str] | None, now: datetime
    ) -> IssuedToken:
        """``customer_ids=None`` means every customer; a sequence, even an empty one, restricts the client to it."""
        _require_aware(now)
        if not subject:
            raise ValueError("subject must not be empty")
        scope = _join_scopes(scopes)
        issued_at = int(now.timestamp())
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": subject,
            "iat": issued_at,
            "nbf": issued_at,
            "exp": issued_at + self._ttl,
            "jti": uuid.uuid4().hex,
            "scope": scope,
        }
        if customer_ids is not None:
            claims[CUSTOMERS_CLAIM] = list(customer_ids)
        token = jwt.encode(claims, self._key.private_key, algorithm=ALGORITHM, headers={"kid": self._key.kid})
        return IssuedToken(access_token=token, expires_in=self._ttl, scope=scope)


def _join_scopes(scopes: Sequence[str]) -> str:
    """RFC 6749 §3.3: space-separated scope-tokens of printable ASCII without ``"`` or ``\\``; duplicates dropped."""
    for scope in scopes:
        if not scope or any(not "\x21" <= char <= "\x7e" or char in '"\\' for char in scope):
            raise ValueError(f"not a valid OAuth2 scope: {scope!r}")
    return " ".join(dict.fromkeys(scopes))


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("datetimes must be timezone-aware")


# --- verifying --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token grants. ``customer_ids`` None means every customer (always None for external tokens)."""

    subject: str
    scopes: frozenset[str]
    customer_ids: tuple[str, ...] | None
    issuer: str
    expires_at: datetime
    token_id: str
    external: bool


@dataclass(frozen=True)
class ExternalIssuer:
    """An identity provider whose tokens we accept. For Entra ID (single tenant, v2.0 tokens): ``issuer`` =
    ``https://login.microsoftonline.com/<tenant-id>/v2.0``, ``jwks_url`` =
    ``https://login.microsoftonline.com/<tenant-id>/discovery/v2.0/keys``, ``audience`` = the API app's client id.
    Scopes come from ``scp`` (delegated, space-separated) and ``roles`` (application permissions, a list)."""

    issuer: str
    jwks_url: str
    audience: str
    scope_claims: tuple[str, ...] = ("scp", "roles")
    algorithms: tuple[str, ...] = ("RS256",)

    def __post_init__(self) -> None:
        if not self.issuer or not self.jwks_url or not self.audience:
            raise ValueError("an external issuer needs an issuer, a JWKS URL and an audience")
        unsafe = sorted(set(self.algorithms) - ASYMMETRIC_ALGORITHMS)
        if not self.algorithms or unsafe:
            raise ValueError(f"external issuers allow asymmetric JWS algorithms only, got {unsafe or 'none'}")


class TokenVerifier:
    """Verifies bearer JWTs: ours against our keys, external ones against their issuer's JWKS (fetched with
    aiohttp, cached for ``jwks_ttl_seconds``, refetched early at most once per ``jwks_refetch_seconds`` when a token
    names an unknown ``kid`` — that is how IdPs roll keys). Without a ``session`` one is opened on first use and
    closed by :meth:`close`; a session passed in stays the caller's."""

    def __init__(
        self,
        keys: Sequence[SigningKey],
        *,
        issuer: str,
        audience: str,
        external: Sequence[ExternalIssuer] = (),
        session: aiohttp.ClientSession | None = None,
        jwks_ttl_seconds: float = 3600,
        jwks_refetch_seconds: float = 60,
        jwks_timeout_seconds: float = 5,
        leeway_seconds: float = LEEWAY_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if any(config.issuer == issuer for config in external):
            raise ValueError("an external issuer cannot use our own issuer name")
        self._own = {key.kid: jwt.PyJWK(key.public_jwk, ALGORITHM) for key in keys}
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_seconds
        self._session = session
        self._owned_session: aiohttp.ClientSession | None = None
        policy = _JwksPolicy(
            ttl=jwks_ttl_seconds,
            refetch_interval=jwks_refetch_seconds,
            timeout=aiohttp.ClientTimeout(total=jwks_timeout_seconds),
            monotonic=monotonic,
        )
        self._remote = {config.issuer: _RemoteKeys(config, self._http, policy) for config in external}

    async def verify(self, token: str, *, now: datetime | None = None) -> TokenClaims:
        """The token's claims, or :class:`InvalidToken`. ``now`` (timezone-aware) is the service clock; None means
        the system clock. Time claims get ``leeway_seconds`` of tolerance for clock skew."""
        if now is not None:
            _require_aware(now)
        header, issuer = _peek(token)
        if issuer == self._issuer:
            return self._verify_own(token, header, now)
        remote = self._remote.get(issuer)
        if remote is None:
            raise InvalidToken("unknown issuer")
        return await self._verify_external(remote, token, header, now)

    async def close(self) -> None:
        """Closes the HTTP session if this verifier opened it."""
        if self._owned_session is not None:
            await self._owned_session.close()
            self._owned_session = self._session = None

    def _verify_own(self, token: str, header: Mapping[str, Any], now: datetime | None) -> TokenClaims:
        _check_algorithm(header, (ALGORITHM,))
        key = self._own.get(_key_id(header))
        if key is None:
            raise InvalidToken("unknown key id")
        claims = _decode(
            token,
            key,
            algorithms=(ALGORITHM,),
            audience=self._audience,
            issuer=self._issuer,
            require=(*REQUIRED_CLAIMS, "jti"),
            now=now,
            leeway=self._leeway,
        )
        return TokenClaims(
            subject=claims["sub"],
            scopes=_scope_claims(claims, ("scope",)),
            customer_ids=_customers(claims),
            issuer=self._issuer,
            expires_at=_expiry(claims),
            token_id=claims["jti"],
            external=False,
        )

    async def _verify_external(
        self, remote: _RemoteKeys, token: str, header: Mapping[str, Any], now: datetime | None
    ) -> TokenClaims:
        config = remote.config
        _check_algorithm(header, config.algorithms)  # before any fetch: junk tokens must not reach the IdP
        key = await remote.key(_key_id(header), header["alg"])
        claims = _decode(
            token,
            key,
            algorithms=config.algorithms,
            audience=config.audience,
            issuer=config.issuer,
            require=REQUIRED_CLAIMS,
            now=now,
            leeway=self._leeway,
        )
        return TokenClaims(
            subject=claims["sub"],
            scopes=_scope_claims(claims, config.scope_claims),
            customer_ids=None,
            issuer=config.issuer,
            expires_at=_expiry(claims),
            token_id=_external_token_id(claims),
            external=True,
        )

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = self._owned_session = aiohttp.ClientSession()
        return self._session


def _peek(token: str) -> tuple[dict[str, Any], str]:
    """The unverified header and ``iss``, used only to pick the keys; nothing else is trusted before PyJWT's
    checks."""
    try:
        header = jwt.get_unverified_header(token)
        payload = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise InvalidToken("malformed token") from None
    issuer = payload.get("iss")
    if not isinstance(issuer, str):
        raise InvalidToken("unknown issuer")
    return header, issuer


def _check_algorithm(header: Mapping[str, Any], allowed: Sequence[str]) -> None:
    if header.get("alg") not in allowed:
        raise InvalidToken("algorithm not allowed")


def _key_id(header: Mapping[str, Any]) -> str:
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise InvalidToken("unknown key id")
    return kid


def _decode(
    token: str,
    key: jwt.PyJWK,
    *,
    algorithms: Sequence[str],
    audience: str,
    issuer: str,
    require: Sequence[str],
    now: datetime | None,
    leeway: float,
) -> dict[str, Any]:
    """PyJWT checks signature and claims. It reads the system clock itself, so to honour the service clock ``now``
    its offset from the system clock goes into the leeway: added for ``exp`` in the first (signature) pass,
    subtracted for ``nbf``/``iat`` in a second, claims-only pass over the same, already verified token."""
    system_ahead = 0.0 if now is None else time.time() - now.timestamp()
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=list(algorithms),
            audience=audience,
            issuer=issuer,
            leeway=leeway + system_ahead,
            options={
                "require": list(require),
                "verify_nbf": False,
                "verify_iat": False,
                "enforce_minimum_key_length": True,
            },
        )
        jwt.decode(
            token,
            options={"verify_signature": False, "verify_nbf": True, "verify_iat": True},
            leeway=leeway - system_ahead,
        )
    except jwt.PyJWTError as error:
        raise InvalidToken(_reason(error)) from None
    return claims


def _reason(error: jwt.PyJWTError) -> str:
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"missing claim {error.claim}"
    return next((reason for kind, reason in _REASONS if isinstance(error, kind)), "malformed token")


def _scope_claims(claims: Mapping[str, Any], names: Sequence[str]) -> frozenset[str]:
    """Scopes from space-separated strings (``scope``, Entra's ``scp``) and lists (Entra's ``roles``)."""
    scopes: set[str] = set()
    for name in names:
        value = claims.get(name)
        if value is None:
            continue
        if isinstance(value, str):
            scopes.update(value.split())
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            scopes.update(value)
        else:
            raise InvalidToken("malformed token")
    return frozenset(scopes)


def _customers(claims: Mapping[str, Any]) -> tuple[str, ...] | None:
    """Absent means every customer; anything present but not a list of strings is refused, never widened."""
    if CUSTOMERS_CLAIM not in claims:
        return None
    value = claims[CUSTOMERS_CLAIM]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidToken("malformed token")
    return tuple(value)


def _expiry(claims: Mapping[str, Any]) -> datetime:
    try:
        return datetime.fromtimestamp(int(claims["exp"]), tz=UTC)
    except (ValueError, TypeError, OverflowError, OSError):
        raise InvalidToken("malformed token") from None


def _external_token_id(claims: Mapping[str, Any]) -> str:
    """``jti``, or Entra's ``uti`` (its access tokens carry no ``jti``)."""
    for name in ("jti", "uti"):
        value = claims.get(name)
        if isinstance(value, str):
            return value
    return ""


# --- external JWKS ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _JwksPolicy:
    ttl: float
    refetch_interval: float
    timeout: aiohttp.ClientTimeout
    monotonic: Callable[[], float]


class _JwksUnavailableError(Exception):
    """A JWKS fetch failed; the message is a short description for the log."""


class _RemoteKeys:
    """One external issuer's keys by (kid, algorithm). Concurrent callers share one fetch: they queue on a lock and
    take the result of any fetch that finished while they waited. When a refresh fails, cached keys stay in use."""

    def __init__(self, config: ExternalIssuer, http: Callable[[], aiohttp.ClientSession], policy: _JwksPolicy) -> None:
        self.config = config
        self._http = http
        self._policy = policy
        self._keys: dict[tuple[str, str], jwt.PyJWK] = {}
        self._kids: frozenset[str] = frozenset()
        self._loaded_at: float | None = None
        self._attempted_at: float | None = None
        self._attempts = 0
        self._lock = asyncio.Lock()

    async def key(self, kid: str, algorithm: str) -> jwt.PyJWK:
        if self._needs_load():
            await self._refresh(self._needs_load)
        if kid not in self._kids and self._may_refetch():
            await self._refresh(lambda: kid not in self._kids and self._may_refetch())
        key = self._keys.get((kid, algorithm))
        if key is None:
            raise InvalidToken("algorithm not allowed" if kid in self._kids else "unknown key id")
        return key

    def _needs_load(self) -> bool:
        if self._loaded_at is None:
            return True
        return self._policy.monotonic() - self._loaded_at >= self._policy.ttl and self._may_refetch()

    def _may_refetch(self) -> bool:
        last = self._attempted_at
        return last is None or self._policy.monotonic() - last >= self._policy.refetch_interval

    async def _refresh(self, needed: Callable[[], bool]) -> None:
        attempts = self._attempts
        async with self._lock:
            if self._attempts == attempts and needed():
                await self._fetch()
        if self._loaded_at is None:
            raise IdentityProviderUnavailable()

    async def _fetch(self) -> None:
        started = self._attempted_at = self._policy.monotonic()
        try:
            keys = _index_jwks(await self._download(), self.config.algorithms)
        except _JwksUnavailableError as error:
            self._attempts += 1
            fallback = "keeping the cached keys" if self._keys else "no keys cached"
            logger.warning("JWKS of %s unavailable (%s); %s", self.config.issuer, error, fallback)
            return
        self._attempts += 1
        self._keys = keys
        self._kids = frozenset(kid for kid, _ in keys)
        self._loaded_at = started
        logger.info("JWKS of %s loaded: %d key(s)", self.config.issuer, len(self._kids))

    async def _download(self) -> Any:
        try:
            async with self._http().get(self.config.jwks_url, timeout=self._policy.timeout) as response:
                if response.status != 200:
                    raise _JwksUnavailableError(f"HTTP {response.status}")
                return await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise _JwksUnavailableError(type(error).__name__) from None
        except ValueError:
            raise _JwksUnavailableError("not JSON") from None


def _index_jwks(document: Any, algorithms: Sequence[str]) -> dict[tuple[str, str], jwt.PyJWK]:
    """Signing keys by (kid, algorithm); keys that fit none of ``algorithms`` are skipped, as RFC 7517 asks."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise _JwksUnavailableError("not a JWK Set")
    index: dict[tuple[str, str], jwt.PyJWK] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str) or jwk.get("use", "sig") != "sig":
            continue
        for algorithm in algorithms:
            key = _bind(jwk, algorithm)
            if key is not None:
                index[jwk["kid"], algorithm] = key
    return index


def _bind(jwk: dict[str, Any], algorithm: str) -> jwt.PyJWK | None:
    """The key bound to ``algorithm``, or None if it cannot serve it (other key type, or its own ``alg`` differs)."""
    if jwk.get("alg", algorithm) != algorithm:
        return None
    try:
        return jwt.PyJWK(jwk, algorithm)
    except jwt.PyJWTError:
        return None
