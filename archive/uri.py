"""URL helpers: IRI → URI, SURT keys, 14-digit Wayback timestamps.

* :func:`iri_to_uri` turns what people paste (Arabic paths, Unicode host names) into the ASCII
  URI that goes on the wire and into WARC headers. It never double-encodes: an existing ``%XX``
  stays exactly as written (case included), only characters that cannot appear in a URI are
  encoded (as UTF-8).
* :func:`surt_key` is the canonical index key (``com,watanserb)/2021/...``), the one pywb's CDXJ
  uses, computed by the ``surt`` package from the ASCII form.
* :func:`timestamp14` / :func:`parse_timestamp14` read and write Wayback timestamps
  (``YYYYMMDDhhmmss``, always UTC).
* :func:`uri_to_iri` is the reverse, for display only (RFC 3987 §3.2): percent-escapes of UTF-8
  text decoded (``%D8%A7`` → ``ا``), ``xn--`` host labels shown in Unicode; ASCII escapes
  (``%2F``…), invalid UTF-8, spaces, controls and bidi formatting characters stay escaped.
  WARC headers, CDXJ, SURTs and exports keep the ASCII form.
* :func:`public_origin` is the origin (``scheme://host[:port]``) that citations and PROV
  identifiers name: ``NAQL_PUBLIC_URL`` when set, otherwise the host the request came to.
"""

from __future__ import annotations

import calendar
import functools
import re
import unicodedata
from datetime import UTC, datetime
from urllib.parse import urlsplit

import idna
import surt

__all__ = ["iri_to_uri", "surt_key", "index_keys", "surt_key_uncached", "timestamp14", "parse_timestamp14", "encode_host", "quote_iri_part",
           "public_origin", "uri_to_iri"]

_HEX = "0123456789abcdefABCDEF"
# Characters allowed unencoded in a URI path/query (RFC 3986 unreserved + sub-delims + ":@/?").
_SAFE = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/?"
)


def quote_iri_part(text: str) -> str:
    """Percent-encode what is not allowed in a URI path or query, as UTF-8.

    Existing well-formed ``%XX`` escapes are kept verbatim (never double-encoded); a ``%`` that
    does not start an escape becomes ``%25``. ``[``, ``]``, space, quotes, ``<>``, ``\\``, ``^``,
    backquote, ``{|}`` and every non-ASCII or control character are encoded.
    """
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "%":
            if i + 2 < n and text[i + 1] in _HEX and text[i + 2] in _HEX:
                out.append(text[i : i + 3])
                i += 3
                continue
            out.append("%25")
        elif ch in _SAFE:
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
        i += 1
    return "".join(out)


def encode_host(host: str) -> str:
    """Lower-case a host name and encode its non-ASCII labels with IDNA 2008 (UTS #46 mapping).

    ASCII labels are kept as they are (lower-cased), so real-world names with ``_`` still work.
    Raises ``ValueError`` for names IDNA refuses.
    """
    if host.isascii():
        return host.lower()
    mapped = idna.uts46_remap(host, std3_rules=False, transitional=False)
    labels = []
    for label in mapped.split("."):
        if label.isascii():
            labels.append(label.lower())
        else:
            try:
                labels.append(idna.alabel(label).decode("ascii"))
            except idna.IDNAError as exc:
                raise ValueError(f"host label {label!r} is not a valid IDN: {exc}") from exc
    return ".".join(labels)


# A URL that iri_to_uri gives back unchanged: lower-case http(s) scheme and ASCII host (no userinfo,
# no IPv6 literal), optional port, then a path and query of characters a URI allows (_SAFE) and
# well-formed %XX escapes only, no fragment, no whitespace. Most URLs a crawler wrote are already
# so; an import (one call per record, every URL new to the cache) skips the parse for them.
_ALREADY_URI = re.compile(r"https?://[a-z0-9.\-]+(?::[0-9]*)?(?:[/?](?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*)?")


# iri_to_uri and surt_key are pure functions of a string and cost ~0.3 ms each; replay calls
# them several times per request for the same few URLs, so a bounded cache pays.
@functools.lru_cache(maxsize=4096)
def iri_to_uri(url: str) -> str:
    """Return the ASCII URI for ``url`` (an IRI or URI); the fragment is dropped.

    Host → lower-case IDNA (``xn--``); path and query: non-ASCII and URI-illegal characters
    percent-encoded as UTF-8, existing ``%XX`` kept as is. Scheme is lower-cased. Userinfo and
    port are kept as written. Raises ``ValueError`` on an IDN host that cannot be encoded.
    """
    if _ALREADY_URI.fullmatch(url):
        return url
    return _iri_to_uri(url)


def _iri_to_uri(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    netloc = parts.netloc
    if netloc:
        userinfo, sep, hostport = netloc.rpartition("@")
        if hostport.startswith("["):
            end = hostport.find("]")
            host, rest = hostport[: end + 1], hostport[end + 1 :]
            host = host.lower()
        else:
            host, colon, port = hostport.partition(":")
            rest = colon + port
            host = encode_host(host)
        netloc = (quote_iri_part(userinfo) + "@" if sep else "") + host + rest
    path = quote_iri_part(parts.path)
    query = quote_iri_part(parts.query)
    out = f"{scheme}:" if scheme else ""
    if netloc or scheme in ("http", "https"):
        out += f"//{netloc}"
    out += path
    if "?" in url.split("#", 1)[0]:
        out += "?" + query
    return out


WEB_SCHEMES = ("http", "https")


def is_web_url(url: str | None) -> bool:
    """True for an absolute http(s) URL: the only kind Naql archives as content or writes into an
    href/src of HTML a person copies (``javascript:``, ``data:``, ``file:`` … would run or leak
    wherever the snippet is pasted). Control characters and spaces that browsers strip from a
    scheme are refused, not stripped."""
    if not url or any(ord(c) < 0x21 for c in url[: url.find(":") + 1 if ":" in url else 0]):
        return False
    scheme, sep, rest = url.partition(":")
    return bool(sep) and scheme.lower() in WEB_SCHEMES and rest.startswith("//") and len(rest) > 2


@functools.lru_cache(maxsize=4096)
def surt_key(url: str) -> str:
    """SURT index key of ``url`` (``com,watanserb)/2021/...``), as pywb's CDXJ writes it.

    The IRI is first made ASCII with :func:`iri_to_uri`; then the ``surt`` package's default
    canonicalisation applies (lower case, ``www.`` dropped, default port dropped, query sorted).
    """
    return surt.surt(iri_to_uri(url))


def index_keys(url: str) -> tuple[str, str]:
    """``(iri_to_uri(url), surt_key(iri_to_uri(url)))``, the same strings, computed without the two
    caches: for bulk work (an import: each URL once), where caching would grow memory by up to
    8,192 entries and push out the URLs replay keeps asking for. Raises as :func:`iri_to_uri`."""
    uri = iri_to_uri.__wrapped__(url)
    return uri, surt_key_uncached(uri)


def surt_key_uncached(url: str) -> str:
    """:func:`surt_key` without its cache (see :func:`index_keys`)."""
    return surt.surt(iri_to_uri.__wrapped__(url))


def timestamp14(dt: datetime) -> str:
    """``YYYYMMDDhhmmss`` in UTC. A naive datetime is taken to be UTC already."""
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC)
    return dt.strftime("%Y%m%d%H%M%S")


_TS_RE = re.compile(r"^\d{4,14}$")
_PAD_EARLIEST = "10000101000000"
_PAD_LATEST = "29991231235959"


def parse_timestamp14(s: str, *, latest: bool = False) -> datetime:
    """Parse a Wayback timestamp of 4 to 14 digits into an aware UTC datetime.

    Padding follows pywb: the missing digits are taken from ``10000101000000`` (default: the
    **earliest** instant of the prefix, ``"2021"`` → 2021-01-01 00:00:00, ``"202111"`` →
    2021-11-01 00:00:00) or, with ``latest=True``, from ``29991231235959`` (the **latest**
    instant, ``"2021"`` → 2021-12-31 23:59:59, ``"202102"`` → 2021-02-28 23:59:59). Then, as in
    pywb, out-of-range fields are clamped (month 1-12, day 1-last day of month, hour ≤ 23,
    minute/second ≤ 59), so ``"20211"`` → 2021-11-01 and ``"20210231"`` → 2021-02-28.
    Raises ``ValueError`` for anything but 4 to 14 ASCII digits.
    """
    if not isinstance(s, str) or not _TS_RE.match(s) or not s.isascii():
        raise ValueError(f"not a 4-14 digit timestamp: {s!r}")
    digits = s + (_PAD_LATEST if latest else _PAD_EARLIEST)[len(s) :]
    year = int(digits[0:4])
    month = min(max(int(digits[4:6]), 1), 12)
    day = min(max(int(digits[6:8]), 1), calendar.monthrange(year, month)[1])
    hour = min(int(digits[8:10]), 23)
    minute = min(int(digits[10:12]), 59)
    second = min(int(digits[12:14]), 59)
    if year < 1:
        raise ValueError(f"year 0 in timestamp {s!r}")
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def public_origin(request=None) -> str:
    """The origin people reach Naql at, without a trailing slash: what citations, permalinks and
    PROV identifiers are built on.

    ``NAQL_PUBLIC_URL`` when it is set (behind a proxy, or a public name); otherwise the scheme and
    ``Host`` of ``request`` (``request.get_host()``, so only a host in ``ALLOWED_HOSTS`` is ever
    used); with neither, ``http://`` + ``NAQL_ADDR`` (default ``127.0.0.1:8000``, where
    ``manage.py run`` listens), for commands run outside a request.
    """
    from django.conf import settings

    configured = (getattr(settings, "NAQL_PUBLIC_URL", "") or "").strip().rstrip("/")
    if configured:
        return configured
    if request is not None:
        return f"{request.scheme}://{request.get_host()}"
    addr = (getattr(settings, "NAQL_ADDR", "") or "127.0.0.1:8000").strip()
    return addr.rstrip("/") if "://" in addr else f"http://{addr}"


_ESCAPES = re.compile(r"(?:%[0-9A-Fa-f]{2})+")


def _keep_escaped(ch: str) -> bool:
    """Characters RFC 3987 §3.2 says not to decode: ASCII (it may be reserved: ``%2F``, ``%3F``),
    spaces and other separators, controls and format characters (bidi marks and overrides),
    private use, non-characters and unpaired surrogates (invalid UTF-8)."""
    if ord(ch) < 0x80:
        return True
    cat = unicodedata.category(ch)
    return cat[0] in "ZC" or (ord(ch) & 0xFFFE) == 0xFFFE or 0xFDD0 <= ord(ch) <= 0xFDEF


def _decode_escapes(part: str) -> str:
    def one(m: re.Match) -> str:
        raw = bytes.fromhex(m.group().replace("%", ""))
        out, pos = [], 0
        for ch in raw.decode("utf-8", "surrogateescape"):
            n = 1 if 0xDC80 <= ord(ch) <= 0xDCFF else len(ch.encode("utf-8"))
            chunk = m.group()[pos * 3:(pos + n) * 3]
            out.append(chunk if _keep_escaped(ch) else ch)
            pos += n
        return "".join(out)

    return _ESCAPES.sub(one, part)


def uri_to_iri(uri: str) -> str:
    """The URL as people read it, for display only (RFC 3987 §3.2 "Converting URIs to IRIs").

    ``http://www.watanserb.com/2021/%D8%A7%D9%84%D8%A3%D9%85%D9%86/`` → ``http://www.watanserb.com/2021/الأمن/``
    and ``http://xn--mgbh0fb.example/`` → ``http://مثال.example/``. Never use the result on the
    wire or in an index: :func:`iri_to_uri` of it gives back the URI (up to escape case)."""
    if not uri or ("%" not in uri and "xn--" not in uri.lower()):
        return uri or ""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return _decode_escapes(uri)
    cut = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    netloc, tail = rest[:cut], rest[cut:]
    userinfo, at, hostport = netloc.rpartition("@")
    host, colon, port = hostport.partition(":") if not hostport.startswith("[") else (hostport, "", "")
    if "xn--" in host.lower():
        labels = []
        for label in host.split("."):
            try:
                labels.append(idna.decode(label) if label.lower().startswith("xn--") else label)
            except idna.IDNAError:
                labels.append(label)
        host = ".".join(labels)
    return f"{scheme}://{userinfo}{at}{host}{colon}{port}{_decode_escapes(tail)}"
