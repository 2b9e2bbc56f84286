"""URL helpers: IRI → URI, SURT keys, 14-digit Wayback timestamps.

* :func:`iri_to_uri` turns what people paste (Arabic paths, Unicode host names) into the ASCII
  URI that goes on the wire and into WARC headers. It never double-encodes: an existing ``%XX``
  stays exactly as written (case included), only characters that cannot appear in a URI are
  encoded (as UTF-8).
* :func:`surt_key` is the canonical index key (``com,watanserb)/2021/...``), the one pywb's CDXJ
  uses, computed by the ``surt`` package from the ASCII form.
* :func:`timestamp14` / :func:`parse_timestamp14` read and write Wayback timestamps
  (``YYYYMMDDhhmmss``, always UTC).
"""

from __future__ import annotations

import calendar
import functools
import re
from datetime import UTC, datetime
from urllib.parse import urlsplit

import idna
import surt

__all__ = ["iri_to_uri", "surt_key", "timestamp14", "parse_timestamp14", "encode_host", "quote_iri_part"]

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


# iri_to_uri and surt_key are pure functions of a string and cost ~0.3 ms each; replay calls
# them several times per request for the same few URLs, so a bounded cache pays.
@functools.lru_cache(maxsize=4096)
def iri_to_uri(url: str) -> str:
    """Return the ASCII URI for ``url`` (an IRI or URI); the fragment is dropped.

    Host → lower-case IDNA (``xn--``); path and query: non-ASCII and URI-illegal characters
    percent-encoded as UTF-8, existing ``%XX`` kept as is. Scheme is lower-cased. Userinfo and
    port are kept as written. Raises ``ValueError`` on an IDN host that cannot be encoded.
    """
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


@functools.lru_cache(maxsize=4096)
def surt_key(url: str) -> str:
    """SURT index key of ``url`` (``com,watanserb)/2021/...``), as pywb's CDXJ writes it.

    The IRI is first made ASCII with :func:`iri_to_uri`; then the ``surt`` package's default
    canonicalisation applies (lower case, ``www.`` dropped, default port dropped, query sorted).
    """
    return surt.surt(iri_to_uri(url))


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
