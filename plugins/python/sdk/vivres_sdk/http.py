"""Outgoing HTTP over the host's ``http-send``.

The hub's client does the retries (429 and 5xx, with backoff, honouring
``Retry-After``), the timeouts, the allowlist and the request budget; after its
retries it hands back the last response. ``send()`` maps what remains to the
contract's errors, carrying ``Retry-After`` on, so that the hub retries the run
after that delay: 401/403 → ``AuthFailed``; 408/425/429/5xx → ``PartnerUnavailable``;
3xx, 404 and other 4xx → ``BadConfig``; a host not granted → ``BadConfig``; timeout,
connection failure, budget spent → ``PartnerUnavailable``.
"""

from __future__ import annotations

import json as _json
from typing import List, Optional, Tuple
from urllib.parse import quote

from . import fr
from .errors import AuthFailed, BadConfig, BadData, PartnerUnavailable


def percent_encode(s: str) -> str:
    """Every byte but ``A-Za-z0-9-._~`` escaped: ``+01:00`` travels as ``%2B01%3A00``."""
    return quote(s, safe="-._~")


def join(base: str, path: str) -> str:
    return base.rstrip("/") + "/" + path.lstrip("/")


def describe_url(url: str) -> str:
    """The URL without its query: what errors and logs may show (queries can hold keys)."""
    for sep in "?#":
        i = url.find(sep)
        if i >= 0:
            url = url[:i]
    return url


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def parse_retry_after(value: str, now: int) -> Optional[int]:
    """Seconds to wait: ``120`` or an HTTP date (``Wed, 21 Oct 2026 07:28:00 GMT``)."""
    v = value.strip()
    if v.isascii() and v.isdigit():
        return min(int(v), 2**32 - 1)
    parts = v.split()
    if len(parts) != 6 or parts[5].upper() != "GMT" or parts[2].lower() not in _MONTHS:
        return None
    try:
        day, year = int(parts[1]), int(parts[3])
        month = _MONTHS.index(parts[2].lower()) + 1
        at = fr.parse_rfc3339(f"{year:04}-{month:02}-{day:02}T{parts[4]}Z")
    except (ValueError, fr.ParseError):
        return None
    return min(max(at - now, 0), 2**32 - 1)


def status_error(status: int, retry_after: Optional[int], what: str):
    """The error for a final status, or ``None`` for 2xx."""
    if 200 <= status <= 299:
        return None
    if status in (401, 403):
        return AuthFailed(f"{what}: HTTP {status}, the partner refused the credentials")
    if status in (408, 425, 429) or 500 <= status <= 599:
        return PartnerUnavailable(f"{what}: HTTP {status} from the partner", retry_after)
    if 300 <= status <= 399:
        return BadConfig(f"{what}: HTTP {status}, a redirection the hub did not follow (check the base URL)")
    if status == 404:
        return BadConfig(f"{what}: HTTP 404, nothing at this address (check the base URL)")
    return BadConfig(f"{what}: HTTP {status}, the partner refused the request")


def decode_json(body: bytes, content_type: Optional[str] = None):
    """JSON, or ``PartnerUnavailable`` for a body that is not JSON at all (a truncated
    answer, a maintenance page: retrying helps)."""
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    try:
        return _json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        reason = e.msg if isinstance(e, _json.JSONDecodeError) else "not UTF-8"
        raise PartnerUnavailable(
            f"the partner's answer is not valid JSON (content type {content_type or 'none'}, "
            f"{len(body)} bytes): {reason}"
        ) from None


class Response:
    def __init__(self, status: int, headers: List[Tuple[str, str]], body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: str) -> Optional[str]:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def retry_after(self) -> Optional[int]:
        v = self.header("retry-after")
        if v is None:
            return None
        from . import now

        return parse_retry_after(v, now())

    def json(self):
        """The body as JSON; see ``decode_json``. Check its shape yourself and raise
        ``BadData`` when it is not what the partner documents."""
        return decode_json(self.body, self.header("content-type"))

    def text(self) -> str:
        return fr.decode_text(self.body)[0]


class Request:
    """``Request.get(url).query("limit", 100).header("Authorization", ...).send()``."""

    def __init__(self, method: str, url: str):
        self.method = method
        self.url = url
        self.headers: List[Tuple[str, str]] = []
        self.body: Optional[bytes] = None

    @classmethod
    def get(cls, url: str) -> "Request":
        return cls("GET", url)

    @classmethod
    def post(cls, url: str, body: bytes) -> "Request":
        r = cls("POST", url)
        r.body = bytes(body)
        return r

    def header(self, name: str, value: str) -> "Request":
        self.headers.append((name, value))
        return self

    def bearer(self, token: str) -> "Request":
        return self.header("Authorization", f"Bearer {token}")

    def query(self, name: str, value) -> "Request":
        """Adds ``name=value``, percent-encoded; ``None`` adds nothing."""
        if value is None:
            return self
        sep = "&" if "?" in self.url else "?"
        self.url += f"{sep}{percent_encode(name)}={percent_encode(str(value))}"
        return self

    def send_raw(self) -> Response:
        """Any status; the host's ``HttpError`` is raised as ``componentize_py_types.Err``."""
        from wit_world.imports import host

        r = host.http_send(host.HttpRequest(method=self.method, url=self.url, headers=self.headers, body=self.body))
        return Response(r.status, r.headers, bytes(r.body))

    def send(self) -> Response:
        """A 2xx response, or the error the connector should raise (see the module)."""
        from componentize_py_types import Err
        from wit_world.imports import host

        what = describe_url(self.url)
        try:
            response = self.send_raw()
        except Err as e:
            raise host_error(e.value, what) from None
        error = status_error(response.status, response.retry_after(), what)
        if error is not None:
            raise error
        return response


def host_error(error, what: str):
    from wit_world.imports import host

    if isinstance(error, host.HttpError_Denied):
        return BadConfig(f"{what}: denied by the hub: {error.value}")
    if isinstance(error, host.HttpError_InvalidRequest):
        return BadConfig(f"{what}: invalid request: {error.value}")
    if isinstance(error, host.HttpError_Timeout):
        return PartnerUnavailable(f"{what}: timeout: {error.value}")
    if isinstance(error, host.HttpError_Transport):
        return PartnerUnavailable(f"{what}: connection failed: {error.value}")
    if isinstance(error, host.HttpError_BudgetExhausted):
        return PartnerUnavailable(f"{what}: the source's request budget for this run is spent")
    return BadData(f"{what}: unexpected answer from the hub's HTTP client")
