"""AWS Signature Version 4: parse the Authorization header, pick the region, verify signatures.

Parsing always happens (the credential scope names the region); verification only when the
server holds credentials. Messages follow the real service's wording.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, quote

from streamkit.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

__all__ = [
    "ALGORITHM",
    "Authorization",
    "Verifier",
    "parse_authorization",
    "region_of",
    "sign_headers",
]

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "dynamodb"
TERMINATOR = "aws4_request"
MAX_SKEW = timedelta(minutes=5)
_REGION = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*\Z")
_AMZ_DATE = "%Y%m%dT%H%M%SZ"
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True, slots=True)
class Authorization:
    """The parts of a SigV4 ``Authorization`` header."""

    algorithm: str
    credential: str
    signed_headers: tuple[str, ...]
    signature: str

    @property
    def scope(self) -> list[str]:
        """Return the credential's slash-separated parts (key id, date, region, service, term)."""
        return self.credential.split("/")


def parse_authorization(header: str) -> Authorization:
    """Split an ``Authorization`` header into its parts.

    Raises:
        MissingAuthenticationTokenException: the header is not an AWS4 one.
        IncompleteSignatureException: a required part is missing or malformed.
    """
    text = header.strip()
    if not text.startswith("AWS4-"):
        raise MissingAuthenticationTokenException()
    algorithm, _, rest = text.partition(" ")
    params: dict[str, str] = {}
    for piece in rest.split(","):
        name, eq, value = piece.strip().partition("=")
        if not name:
            continue
        if not eq:
            raise IncompleteSignatureException(
                f"'{name}' not a valid key=value pair (missing equal-sign) in Authorization "
                f"header: '{header}'."
            )
        params[name] = value.strip()
    missing = [p for p in ("Credential", "Signature", "SignedHeaders") if p not in params]
    if missing:
        raise IncompleteSignatureException(
            "".join(f"Authorization header requires '{p}' parameter. " for p in missing)
            + f"Authorization={header}"
        )
    if algorithm != ALGORITHM:
        raise IncompleteSignatureException(
            f"Unsupported AWS 'algorithm': '{algorithm}' (only {ALGORITHM} for now). "
        )
    signed = tuple(h for h in params["SignedHeaders"].lower().split(";") if h)
    return Authorization(algorithm, params["Credential"], signed, params["Signature"])


def region_of(authorization: str | None, default: str) -> str:
    """Return the region of a request's credential scope, or ``default`` when there is none.

    This is the lenient parse used when auth is off: anything unreadable means ``default``.

    Raises:
        InvalidSignatureException: the scope names a region that is not a valid region name
            (it also names the data file, so it must be safe).
    """
    if not authorization:
        return default
    start = authorization.find("Credential=")
    if start < 0:
        return default
    credential = authorization[start + 11 :].split(",", 1)[0].strip()
    parts = credential.split("/")
    if len(parts) < 3:
        return default
    return _check_region(parts[2])


_REGIONS_SEEN: set[str] = set()  # valid region names met so far (every request names one)


def _check_region(region: str) -> str:
    if region in _REGIONS_SEEN:
        return region
    if len(region) > 32 or not _REGION.match(region):
        raise InvalidSignatureException(
            f"Credential should be scoped to a valid region, not '{region}'. "
        )
    if len(_REGIONS_SEEN) < 64:
        _REGIONS_SEEN.add(region)
    return region


class Verifier:
    """Checks SigV4 signatures against a set of access keys."""

    def __init__(self, credentials: Mapping[str, str]) -> None:
        self._secrets = dict(credentials)

    def verify(
        self,
        *,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        now: float,
    ) -> str:
        """Check a request's signature and return the region of its credential scope.

        Args:
            method: the HTTP method.
            target: the request target as sent (path and query string).
            headers: the request headers, names lower-cased, in arrival order.
            body: the request body.
            now: the server's time, epoch seconds.

        Raises:
            MissingAuthenticationTokenException, IncompleteSignatureException,
            InvalidSignatureException, UnrecognizedClientException.
        """
        values = _header_map(headers)
        auth, amz_date = _signed_request(values, now)
        scope = _credential_scope(auth, amz_date)
        key_id, date, region, service, _ = scope
        secret = self._secrets.get(key_id)
        if secret is None:
            raise UnrecognizedClientException()
        canonical = canonical_request(method, target, values, auth.signed_headers, body)
        to_sign = string_to_sign(amz_date, "/".join(scope[1:]), canonical)
        expected = signature(secret, date, region, service, to_sign)
        if not hmac.compare_digest(expected, auth.signature):
            raise InvalidSignatureException(
                "The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method. Consult the service "
                "documentation for details.\n\nThe Canonical String for this request should have "
                f"been\n'{canonical}'\n\nThe String-to-Sign should have been\n'{to_sign}'\n"
            )
        return region


def _signed_request(values: Mapping[str, list[str]], now: float) -> tuple[Authorization, str]:
    """Return a request's Authorization and its date (``X-Amz-Date`` form), checked as AWS does.

    The header must be there and sign ``host``; the date must be there and within 5 minutes.
    """
    header = values.get("authorization")
    if not header:
        raise MissingAuthenticationTokenException()
    auth = parse_authorization(",".join(header))
    raw_date = _first(values, "x-amz-date") or _first(values, "date")
    if raw_date is None:
        raise IncompleteSignatureException(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
            f"header. Authorization={header[0]}"
        )
    stamp = _parse_date(raw_date)
    amz_date = stamp.strftime(_AMZ_DATE)
    _check_freshness(stamp, datetime.fromtimestamp(now, UTC))
    if "host" not in auth.signed_headers:
        raise InvalidSignatureException("'Host' must be a 'SignedHeader' in the AWS Authorization.")
    return auth, amz_date


def _credential_scope(auth: Authorization, amz_date: str) -> list[str]:
    """Return the credential's five parts (key id, date, region, service, terminator), checked.

    Every wrong part is named in one InvalidSignatureException, as AWS words it.
    """
    scope = list(auth.scope)
    while scope and scope[-1] == "":
        scope.pop()
    if len(scope) != 5:
        raise IncompleteSignatureException(
            "Credential must have exactly 5 slash-delimited elements, e.g. "
            f"keyid/date/region/service/term, got '{auth.credential}'"
        )
    _, date, region, service, terminator = scope
    problems = []
    if len(region) > 32 or not _REGION.match(region):
        problems.append(f"Credential should be scoped to a valid region, not '{region}'. ")
    if service != SERVICE:
        problems.append(f"Credential should be scoped to correct service: '{SERVICE}'. ")
    if terminator != TERMINATOR:
        problems.append(
            f"Credential should be scoped with a valid terminator: '{TERMINATOR}', "
            f"not '{terminator}'. "
        )
    if date != amz_date[:8]:
        problems.append(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{date}' != '{amz_date[:8]}', from '{amz_date}'."
        )
    if problems:
        raise InvalidSignatureException("".join(problems).rstrip())
    return scope


def canonical_request(
    method: str,
    target: str,
    headers: Mapping[str, list[str]],
    signed_headers: Sequence[str],
    body: bytes,
) -> str:
    """Return the SigV4 canonical request for a request as received."""
    path, _, query = target.partition("?")
    canonical_uri = quote(_normalize_path(path or "/"), safe="/~")
    pairs = sorted(
        (quote(k, safe="-_.~"), quote(v, safe="-_.~"))
        for k, v in parse_qsl(query, keep_blank_values=True)
    )
    canonical_query = "&".join(f"{k}={v}" for k, v in pairs)
    lines = [
        f"{name}:{','.join(' '.join(v.split()) for v in headers.get(name, []))}"
        for name in signed_headers
    ]
    content_sha = _first(headers, "x-amz-content-sha256")
    payload = content_sha or (hashlib.sha256(body).hexdigest() if body else _EMPTY_SHA256)
    return "\n".join(
        [
            method.upper(),
            canonical_uri,
            canonical_query,
            "\n".join(lines) + "\n",
            ";".join(signed_headers),
            payload,
        ]
    )


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    """Return the SigV4 string to sign for a canonical request."""
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


def signature(secret: str, date: str, region: str, service: str, to_sign: str) -> str:
    """Return the hex SigV4 signature of ``to_sign`` under a secret key."""
    key = ("AWS4" + secret).encode("utf-8")
    for part in (date, region, service, TERMINATOR):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def sign_headers(
    *,
    access_key: str,
    secret: str,
    region: str,
    method: str,
    target: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    now: float,
) -> list[tuple[str, str]]:
    """Return ``headers`` plus ``x-amz-date`` and a SigV4 ``authorization`` (test and bench aid)."""
    amz_date = datetime.fromtimestamp(now, UTC).strftime(_AMZ_DATE)
    signed = [(k.lower(), v) for k, v in headers] + [("x-amz-date", amz_date)]
    values = _header_map(signed)
    names = sorted(values)
    scope = f"{amz_date[:8]}/{region}/{SERVICE}/{TERMINATOR}"
    canonical = canonical_request(method, target, values, names, body)
    sig = signature(
        secret, amz_date[:8], region, SERVICE, string_to_sign(amz_date, scope, canonical)
    )
    auth = (
        f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={';'.join(names)}, "
        f"Signature={sig}"
    )
    return [*signed, ("authorization", auth)]


def _header_map(headers: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for name, value in headers:
        values.setdefault(name.lower(), []).append(value)
    return values


def _first(values: Mapping[str, list[str]], name: str) -> str | None:
    found = values.get(name)
    return found[0] if found else None


def _parse_date(raw: str) -> datetime:
    try:
        if "T" in raw and raw.endswith("Z"):
            return datetime.strptime(raw, _AMZ_DATE).replace(tzinfo=UTC)
        parsed = parsedate_to_datetime(raw)
    except (ValueError, TypeError, IndexError):
        parsed = None
    if parsed is None:
        raise IncompleteSignatureException(
            f"Date must be in ISO-8601 'basic format'. Got '{raw}'. "
            "See http://en.wikipedia.org/wiki/ISO_8601"
        )
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _check_freshness(stamp: datetime, now: datetime) -> None:
    if stamp < now - MAX_SKEW:
        raise InvalidSignatureException(
            f"Signature expired: {stamp.strftime(_AMZ_DATE)} is now earlier than "
            f"{(now - MAX_SKEW).strftime(_AMZ_DATE)} ({now.strftime(_AMZ_DATE)} - 5 min.)"
        )
    if stamp > now + MAX_SKEW:
        raise InvalidSignatureException(
            f"Signature not yet current: {stamp.strftime(_AMZ_DATE)} is still later than "
            f"{(now + MAX_SKEW).strftime(_AMZ_DATE)} ({now.strftime(_AMZ_DATE)} + 5 min.)"
        )


def _normalize_path(path: str) -> str:
    segments: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
        else:
            segments.append(segment)
    normalized = "/" + "/".join(segments)
    if path.endswith("/") and normalized != "/":
        normalized += "/"
    return normalized
