"""Character decoding of HTML bodies (WHATWG encoding labels, ``<meta>`` prescan, detection).

Pure functions over bytes, used by :mod:`archive.extract.article` and by capture/replay code that only
needs the text.

Decoding (:func:`decode_html`) follows the WHATWG "determine the character encoding" order:
byte-order mark, then the ``Content-Type`` charset, then a ``<meta>`` prescan of the first
bytes, then statistical detection, then UTF-8 with replacement characters. Labels are mapped the
WHATWG way (``latin1`` / ``iso-8859-1`` / ``ascii`` mean windows-1252, ``cp1256`` means
windows-1256, ``x-user-defined`` is its own single-byte decoder …).
"""

from __future__ import annotations

import codecs
import re

PRESCAN_BYTES = 4096

# --------------------------------------------------------------------------------------------
# Encodings
# --------------------------------------------------------------------------------------------

# WHATWG encoding name -> (Python codec, labels). Only encodings Python can decode are listed;
# an unknown label is ignored and the next step of the algorithm is tried.
_ENCODINGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "utf-8": ("utf-8", ("unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "utf-8", "utf8",
                        "x-unicode20utf8")),
    "ibm866": ("cp866", ("866", "cp866", "csibm866", "ibm866")),
    "iso-8859-2": ("iso8859_2", ("csisolatin2", "iso-8859-2", "iso-ir-101", "iso8859-2", "iso88592",
                                 "iso_8859-2", "iso_8859-2:1987", "l2", "latin2")),
    "iso-8859-3": ("iso8859_3", ("csisolatin3", "iso-8859-3", "iso-ir-109", "iso8859-3", "iso88593",
                                 "iso_8859-3", "iso_8859-3:1988", "l3", "latin3")),
    "iso-8859-4": ("iso8859_4", ("csisolatin4", "iso-8859-4", "iso-ir-110", "iso8859-4", "iso88594",
                                 "iso_8859-4", "iso_8859-4:1988", "l4", "latin4")),
    "iso-8859-5": ("iso8859_5", ("csisolatincyrillic", "cyrillic", "iso-8859-5", "iso-ir-144",
                                 "iso8859-5", "iso88595", "iso_8859-5", "iso_8859-5:1988")),
    "iso-8859-6": ("iso8859_6", ("arabic", "asmo-708", "csiso88596e", "csiso88596i",
                                 "csisolatinarabic", "ecma-114", "iso-8859-6", "iso-8859-6-e",
                                 "iso-8859-6-i", "iso-ir-127", "iso8859-6", "iso88596", "iso_8859-6",
                                 "iso_8859-6:1987")),
    "iso-8859-7": ("iso8859_7", ("csisolatingreek", "ecma-118", "elot_928", "greek", "greek8",
                                 "iso-8859-7", "iso-ir-126", "iso8859-7", "iso88597", "iso_8859-7",
                                 "iso_8859-7:1987", "sun_eu_greek")),
    "iso-8859-8": ("iso8859_8", ("csiso88598e", "csisolatinhebrew", "hebrew", "iso-8859-8",
                                 "iso-8859-8-e", "iso-ir-138", "iso8859-8", "iso88598", "iso_8859-8",
                                 "iso_8859-8:1988", "visual")),
    "iso-8859-8-i": ("iso8859_8", ("csiso88598i", "iso-8859-8-i", "logical")),
    "iso-8859-10": ("iso8859_10", ("csisolatin6", "iso-8859-10", "iso-ir-157", "iso8859-10",
                                   "iso885910", "l6", "latin6")),
    "iso-8859-13": ("iso8859_13", ("iso-8859-13", "iso8859-13", "iso885913")),
    "iso-8859-14": ("iso8859_14", ("iso-8859-14", "iso8859-14", "iso885914")),
    "iso-8859-15": ("iso8859_15", ("csisolatin9", "iso-8859-15", "iso8859-15", "iso885915",
                                   "iso_8859-15", "l9")),
    "iso-8859-16": ("iso8859_16", ("iso-8859-16",)),
    "koi8-r": ("koi8_r", ("cskoi8r", "koi", "koi8", "koi8-r", "koi8_r")),
    "koi8-u": ("koi8_u", ("koi8-ru", "koi8-u")),
    "macintosh": ("mac_roman", ("csmacintosh", "mac", "macintosh", "x-mac-roman")),
    "windows-874": ("cp874", ("dos-874", "iso-8859-11", "iso8859-11", "iso885911", "tis-620",
                              "windows-874")),
    "windows-1250": ("cp1250", ("cp1250", "windows-1250", "x-cp1250")),
    "windows-1251": ("cp1251", ("cp1251", "windows-1251", "x-cp1251")),
    "windows-1252": ("cp1252", ("ansi_x3.4-1968", "ascii", "cp1252", "cp819", "csisolatin1", "ibm819",
                                "iso-8859-1", "iso-ir-100", "iso8859-1", "iso88591", "iso_8859-1",
                                "iso_8859-1:1987", "l1", "latin1", "us-ascii", "windows-1252",
                                "x-cp1252")),
    "windows-1253": ("cp1253", ("cp1253", "windows-1253", "x-cp1253")),
    "windows-1254": ("cp1254", ("cp1254", "csisolatin5", "iso-8859-9", "iso-ir-148", "iso8859-9",
                                "iso88599", "iso_8859-9", "iso_8859-9:1989", "l5", "latin5",
                                "windows-1254", "x-cp1254")),
    "windows-1255": ("cp1255", ("cp1255", "windows-1255", "x-cp1255")),
    "windows-1256": ("cp1256", ("cp1256", "windows-1256", "x-cp1256")),
    "windows-1257": ("cp1257", ("cp1257", "windows-1257", "x-cp1257")),
    "windows-1258": ("cp1258", ("cp1258", "windows-1258", "x-cp1258")),
    "x-mac-cyrillic": ("mac_cyrillic", ("x-mac-cyrillic", "x-mac-ukrainian")),
    "gbk": ("gb18030", ("chinese", "csgb2312", "csiso58gb231280", "gb2312", "gb_2312", "gb_2312-80",
                        "gbk", "iso-ir-58", "x-gbk")),
    "gb18030": ("gb18030", ("gb18030",)),
    "big5": ("big5hkscs", ("big5", "big5-hkscs", "cn-big5", "csbig5", "x-x-big5")),
    "euc-jp": ("euc_jp", ("cseucpkdfmtjapanese", "euc-jp", "x-euc-jp")),
    "iso-2022-jp": ("iso2022_jp", ("csiso2022jp", "iso-2022-jp")),
    "shift_jis": ("cp932", ("csshiftjis", "ms932", "ms_kanji", "shift-jis", "shift_jis", "sjis",
                            "windows-31j", "x-sjis")),
    "euc-kr": ("cp949", ("cseuckr", "csksc56011987", "euc-kr", "iso-ir-149", "korean", "ks_c_5601-1987",
                         "ks_c_5601-1989", "ksc5601", "ksc_5601", "windows-949")),
    "utf-16be": ("utf-16-be", ("unicodefffe", "utf-16be")),
    "utf-16le": ("utf-16-le", ("csunicode", "iso-10646-ucs-2", "ucs-2", "unicode", "unicodefeff",
                               "utf-16", "utf-16le")),
    "x-user-defined": ("x-user-defined", ("x-user-defined",)),
}
_LABELS: dict[str, str] = {label: name for name, (_c, labels) in _ENCODINGS.items() for label in labels}

# Python codec names (as charset-normalizer reports them) -> WHATWG name.
_PY_TO_WHATWG = {codecs.lookup(py).name: name for name, (py, _l) in _ENCODINGS.items()
                 if py != "x-user-defined"}
_PY_TO_WHATWG.update({"ascii": "windows-1252", "latin_1": "windows-1252", "iso8859-1": "windows-1252",
                      "utf-8": "utf-8", "utf_8": "utf-8", "gb2312": "gbk", "big5": "big5",
                      "shift_jis": "shift_jis", "euc_kr": "euc-kr", "cp949": "euc-kr"})


def encoding_for_label(label: str | None) -> str | None:
    """WHATWG "get an encoding": the canonical encoding name for ``label``, or None."""
    if not label:
        return None
    return _LABELS.get(label.strip().strip("\"'").strip().lower())


def _decode_x_user_defined(data: bytes) -> str:
    return "".join(chr(b) if b < 0x80 else chr(0xF780 + b - 0x80) for b in data)


def _decode(data: bytes, name: str, errors: str = "replace") -> str:
    if name == "x-user-defined":
        return _decode_x_user_defined(data)
    return data.decode(_ENCODINGS[name][0], errors=errors)


def charset_from_content_type(content_type: str | None) -> str | None:
    """The encoding named by a Content-Type's ``charset`` parameter, if it is a known label."""
    if not content_type:
        return None
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset":
            return encoding_for_label(value)
    return None


_COMMENT_RE = re.compile(rb"<!--.*?(?:-->|$)", re.S)
_META_RE = re.compile(rb"<meta[\s/][^>]*>?", re.I)
_ATTR_RE = re.compile(rb"""([^\s/>=]+)(?:\s*=\s*(?:"([^"]*)"?|'([^']*)'?|([^\s>]*)))?""")
_CHARSET_IN_CONTENT_RE = re.compile(rb"""charset\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s;"']+))""", re.I)


def _meta_prescan(head: bytes) -> str | None:
    """WHATWG "prescan a byte stream": the charset declared by a ``<meta>`` in ``head``."""
    head = _COMMENT_RE.sub(b"", head)
    for match in _META_RE.finditer(head):
        attrs: dict[bytes, bytes] = {}
        for am in _ATTR_RE.finditer(match.group(0)[5:]):
            name = am.group(1).lower()
            if name not in attrs:
                attrs[name] = am.group(2) or am.group(3) or am.group(4) or b""
        charset: bytes | None = None
        if b"charset" in attrs:
            charset = attrs[b"charset"]
        elif attrs.get(b"http-equiv", b"").strip().lower() == b"content-type" and b"content" in attrs:
            cm = _CHARSET_IN_CONTENT_RE.search(attrs[b"content"])
            if cm:
                charset = cm.group(1) or cm.group(2) or cm.group(3)
        if charset is None:
            continue
        name = encoding_for_label(charset.decode("latin-1"))
        if name is None:
            continue
        if name in ("utf-16be", "utf-16le"):
            return "utf-8"  # a document that can be prescanned as ASCII is not UTF-16
        if name == "x-user-defined":
            return "windows-1252"
        return name
    return None


def decode_html(body: bytes, content_type: str | None = None) -> tuple[str, str]:
    """Decode an HTML body; return ``(text, encoding name used)``.

    Order: BOM, Content-Type charset, ``<meta>`` prescan of the first 4 KB, then detection
    (strict UTF-8 first, then charset-normalizer), and finally UTF-8 with replacement.
    """
    body = body or b""
    for bom, name in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_BE, "utf-16be"),
                      (codecs.BOM_UTF16_LE, "utf-16le")):
        if body.startswith(bom):
            return _decode(body[len(bom):], name), name
    name = charset_from_content_type(content_type) or _meta_prescan(body[:PRESCAN_BYTES])
    if name:
        return _decode(body, name), name
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    detected = _detect(body)
    if detected:
        return _decode(body, detected), detected
    return body.decode("utf-8", errors="replace"), "utf-8"


def _detect(body: bytes) -> str | None:
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - dependency is declared
        return None
    best = from_bytes(body[:200_000]).best()
    if best is None:
        return None
    try:
        py = codecs.lookup(best.encoding).name
    except LookupError:
        return None
    return _PY_TO_WHATWG.get(py)


_CSS_CHARSET_RE = re.compile(rb'@charset "([^"]{1,64})";')


def decode_css(body: bytes, content_type: str | None = None, environment: str | None = None) -> tuple[str, str]:
    """Decode a stylesheet; return ``(text, encoding name used)``, in the order of CSS Syntax 3
    §3.2 "determine the fallback encoding", the same as HTML's: byte-order mark, then the
    ``Content-Type`` charset, then a leading ``@charset "…";`` rule (a UTF-16 label meaning UTF-8),
    then ``environment`` (the referring document's encoding), then UTF-8. Labels are WHATWG's."""
    body = body or b""
    for bom, name in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_BE, "utf-16be"),
                      (codecs.BOM_UTF16_LE, "utf-16le")):
        if body.startswith(bom):
            return _decode(body[len(bom):], name), name
    name = charset_from_content_type(content_type)
    if name is None and (m := _CSS_CHARSET_RE.match(body[:1024])):
        name = encoding_for_label(m.group(1).decode("latin-1"))
        if name in ("utf-16be", "utf-16le"):
            name = "utf-8"
    name = name or encoding_for_label(environment) or "utf-8"
    return _decode(body, name), name
