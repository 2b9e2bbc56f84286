"""URL rewriting of archived HTML and CSS for replay.

Every URL a replayed page would load or navigate to is turned into an archive URL
``/web/<ts><mod>/<absolute-uri>``; at request time the memento lookup picks the capture closest
to ``ts``. Modifiers follow pywb: ``im_`` images and fonts, ``cs_`` stylesheets, ``js_`` scripts,
``if_`` frames, ``oe_`` other embeds, and none for links and forms (navigations).

The HTML rewriter is one pass of compiled expressions over the document: text, end tags,
comments, script content and start tags without URLs are copied through verbatim; only start tags
that may hold a URL are parsed (as :class:`html.parser.HTMLParser` parses them) and only those
whose values change are re-serialised. Rewritten: ``href``/``src``/``srcset``/``poster``/``action``/...
(by tag), lazy-loading ``data-src``-style attributes, ``style`` attributes and ``<style>``
elements (CSS ``url()`` and ``@import``), ``<meta http-equiv=refresh>``, and any other attribute
whose whole value is an absolute http(s) URL (``og:url``, ``og:image``...), except vocabulary
identifiers that are never fetched (``xmlns``, ``itemtype``, ``property``...). ``integrity`` and
``ping`` are dropped (a rewritten stylesheet no longer matches its hash; pings are beacons),
``<meta http-equiv>`` Content-Security-Policy (and Set-Cookie) are renamed ``x-archive-orig-…``
so the browser ignores them, only the first ``<base href>`` sets the base (as in browsers),
and the declared charset becomes UTF-8 because replayed HTML is served as UTF-8.
``javascript:``, ``data:``, ``mailto:`` and fragment-only references are left alone; JavaScript
is not rewritten (the sandbox CSP keeps it from reaching anything but the archive).
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from urllib.parse import urljoin, urlsplit

from archive.capture.requisites import css_unescape
from archive.uri import iri_to_uri

__all__ = ["Rewriter", "rewrite_html", "rewrite_css", "archive_path", "rewrite_srcset"]

MODIFIERS = ("id_", "im_", "cs_", "js_", "if_", "oe_", "mp_")
_KEEP_SCHEMES = ("javascript:", "data:", "mailto:", "about:", "blob:", "tel:", "sms:", "vbscript:", "chrome:")
_NOT_FETCHED = {"xmlns", "itemtype", "itemprop", "itemid", "property", "typeof", "vocab", "prefix", "profile",
                "rel", "rev", "about", "resource", "datatype"}

# (tag, attribute) → modifier; ``None`` tag means any tag.
_TAG_ATTRS: dict[tuple[str | None, str], str] = {
    ("img", "src"): "im_", ("img", "srcset"): "im_", ("img", "lowsrc"): "im_", ("img", "longdesc"): "",
    ("source", "src"): "oe_", ("source", "srcset"): "im_", ("input", "src"): "im_",
    ("script", "src"): "js_", ("iframe", "src"): "if_", ("frame", "src"): "if_",
    ("embed", "src"): "oe_", ("object", "data"): "oe_", ("object", "codebase"): "oe_", ("applet", "codebase"): "oe_",
    ("video", "src"): "oe_", ("video", "poster"): "im_", ("audio", "src"): "oe_", ("track", "src"): "oe_",
    ("image", "href"): "im_", ("image", "xlink:href"): "im_", ("use", "href"): "im_", ("use", "xlink:href"): "im_",
    (None, "href"): "", (None, "src"): "oe_", (None, "action"): "", (None, "formaction"): "", (None, "cite"): "",
    (None, "background"): "im_", (None, "poster"): "im_", (None, "xlink:href"): "", (None, "manifest"): "oe_",
    (None, "data-src"): "im_", (None, "data-lazy-src"): "im_", (None, "data-original"): "im_",
    (None, "data-srcset"): "im_", (None, "data-lazy-srcset"): "im_", (None, "data-bg"): "im_",
}
_SRCSET_ATTRS = {"srcset", "data-srcset", "data-lazy-srcset", "imagesrcset"}
_ICON_RELS = {"icon", "shortcut", "apple-touch-icon", "apple-touch-icon-precomposed", "mask-icon", "image_src"}
_PRELOAD_MODS = {"style": "cs_", "script": "js_", "image": "im_", "font": "im_", "fetch": "oe_"}
_DROP_ATTRS = {"integrity", "ping"}
#: <meta http-equiv> directives neutralised in replay (renamed, kept visible in the source)
_NEUTRALISED_EQUIV = {"content-security-policy", "content-security-policy-report-only", "x-content-security-policy",
                      "x-webkit-csp", "set-cookie"}

_CSS_RE = re.compile(
    r"""(?P<imp>@import\s+)(?:url\(\s*(?P<iu>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^)"'\s]*)\s*\)"""
    r"""|(?P<is>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'))"""
    r"""|url\(\s*(?P<u>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^)"'\s]*)\s*\)""",
    re.I | re.S,
)
_REFRESH_RE = re.compile(r"""^(\s*[\d.]*\s*[;,]?\s*(?:url\s*=\s*)?)(['"]?)(.*?)\2\s*$""", re.I | re.S)
_META_CHARSET_RE = re.compile(r"charset\s*=\s*[\"']?[^\s;\"']+", re.I)


def archive_path(ts: str, mod: str, url: str, prefix: str = "/web") -> str:
    """``/web/<ts><mod>/<url>`` (``url`` must already be an absolute ASCII URI)."""
    return f"{prefix}/{ts}{mod}/{url}"


@lru_cache(maxsize=8192)
def _absolute(base_url: str, prefix: str, ref: str) -> str | None:
    """Rewriter.absolute: a pure function of its arguments, cached (bounded: at most 8,192 entries
    of at most 4 KiB) because the same pages, and their navigation, logos and scripts, are replayed
    again and again."""
    ref = ref.strip()
    if not ref or ref.startswith("#"):
        return None
    if ref.lower().replace("\t", "").replace("\n", "").startswith(_KEEP_SCHEMES):
        return None
    if ref.startswith(prefix + "/"):
        return None  # already an archive URL
    try:
        url = iri_to_uri(urljoin(base_url, ref))
    except ValueError:
        return None
    return url if urlsplit(url).scheme in ("http", "https") else None


class Rewriter:
    """Turns references found in a document at ``base_url`` into archive URLs at ``ts``."""

    def __init__(self, base_url: str, ts: str, prefix: str = "/web"):
        self.base_url = base_url
        self.ts = ts
        self.prefix = prefix

    def absolute(self, ref: str) -> str | None:
        """The absolute http(s) URI ``ref`` points to (fragment kept apart), or None to leave it."""
        if len(ref) + len(self.base_url) > 4096:  # data: URLs and the like: not worth keeping
            return _absolute.__wrapped__(self.base_url, self.prefix, ref)
        return _absolute(self.base_url, self.prefix, ref)

    def url(self, ref: str, mod: str = "") -> str:
        """Rewritten form of ``ref`` (unchanged when it is not an http(s) reference)."""
        absolute = self.absolute(ref)
        if absolute is None:
            return ref
        fragment = ""
        if "#" in ref:
            fragment = "#" + ref.split("#", 1)[1]
        return archive_path(self.ts, mod, absolute, self.prefix) + fragment

    def rebase(self, href: str) -> None:
        try:
            self.base_url = urljoin(self.base_url, href.strip())
        except ValueError:
            pass


def rewrite_srcset(value: str, fn) -> str:
    """Apply ``fn`` to each candidate URL of a ``srcset`` (descriptors kept; commas in URLs kept)."""
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        while i < n and (value[i].isspace() or value[i] == ","):
            i += 1
        if i >= n:
            break
        j = i
        while j < n and not value[j].isspace():
            j += 1
        url = value[i:j]
        desc = ""
        if url.endswith(","):
            url = url.rstrip(",")
            i = j
        else:
            k, depth = j, 0
            while k < n and (value[k] != "," or depth):
                depth += value[k] == "("
                depth -= value[k] == ")" and depth > 0
                k += 1
            desc = value[j:k].strip()
            i = k + 1
        out.append(fn(url) + (" " + desc if desc else ""))
    return ", ".join(out)


def _css_quote(url: str) -> str:
    return '"' + url.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\a ") + '"'


def rewrite_css(css: str, rw: Rewriter) -> str:
    """Rewrite ``url()`` and ``@import`` references of a stylesheet (or a ``style`` attribute)."""

    def unquote(token: str) -> str:
        token = token.strip()
        if token[:1] in "\"'" and token[-1:] == token[:1] and len(token) >= 2:
            token = token[1:-1]
        return css_unescape(token)

    def repl(m: re.Match) -> str:
        if m.group("imp"):
            raw = m.group("iu") if m.group("iu") is not None else m.group("is")
            ref = unquote(raw)
            new = rw.url(ref, "cs_")
            if new == ref:
                return m.group(0)
            return f"{m.group('imp')}url({_css_quote(new)})"
        ref = unquote(m.group("u"))
        new = rw.url(ref, "im_")
        return m.group(0) if new == ref else f"url({_css_quote(new)})"

    return _CSS_RE.sub(repl, css)


def _attr_mod(tag: str, name: str, attrs: dict[str, str | None]) -> str | None:
    """Modifier for a URL attribute, or None when ``name`` is not a URL attribute of ``tag``."""
    if tag == "link" and name == "href":
        rels = set((attrs.get("rel") or "").lower().split())
        if "stylesheet" in rels:
            return "cs_"
        if rels & _ICON_RELS:
            return "im_"
        if rels & {"preload", "prefetch", "modulepreload"}:
            return _PRELOAD_MODS.get((attrs.get("as") or "").lower(), "js_" if "modulepreload" in rels else "oe_")
        return ""
    if (tag, name) in _TAG_ATTRS:
        return _TAG_ATTRS[(tag, name)]
    return _TAG_ATTRS.get((None, name))


def _is_absolute_http(value: str) -> bool:
    v = value.strip().lower()
    return v.startswith(("http://", "https://", "//")) and " " not in v


class _TagRewriter:
    """The per-tag half of HTML rewriting: given a start tag (lower-case name, attributes as
    :class:`html.parser.HTMLParser` reports them, its source text), the tag to write out: the
    source itself when nothing in it changes, else the tag re-serialised with rewritten values."""

    def __init__(self, rw: Rewriter):
        self.rw = rw
        self._based = False

    def tag(self, tag: str, attrs: list[tuple[str, str | None]], raw: str, *, closed: bool) -> str:
        amap = {k: v for k, v in attrs}
        if tag == "base" and amap.get("href") and not self._based:
            # only the first <base href> sets the document base (HTML §4.2.3); its href is then
            # rewritten like any link, so nothing resolves against the live web
            self.rw.rebase(amap["href"])
            self._based = True
        changed = False
        new_attrs: list[tuple[str, str | None]] = []
        for name, value in attrs:
            new = self._attr(tag, name, value, amap)
            if new is _DROP:
                changed = True
                continue
            if new != value:
                changed = True
            new_attrs.append((name, new))
        if not changed:
            return raw
        parts = [f"<{tag}"]
        for name, value in new_attrs:
            parts.append(f" {name}" if value is None else f' {name}="{html.escape(value, quote=True)}"')
        parts.append(" />" if closed else ">")
        return "".join(parts)

    def _attr(self, tag: str, name: str, value: str | None, amap: dict):
        if value is None:
            return None
        if name in _DROP_ATTRS:
            return _DROP
        if name == "style":
            return rewrite_css(value, self.rw)
        if tag == "meta":
            return self._meta(name, value, amap)
        mod = _attr_mod(tag, name, amap)
        if mod is not None:
            if name in _SRCSET_ATTRS:
                return rewrite_srcset(value, lambda u: self.rw.url(u, mod))
            return self.rw.url(value, mod)
        if name in _SRCSET_ATTRS:
            return rewrite_srcset(value, lambda u: self.rw.url(u, "im_"))
        if name.split(":")[0] in _NOT_FETCHED or name.startswith("xmlns"):
            return value
        if _is_absolute_http(value):
            return self.rw.url(value, "")
        return value

    def _meta(self, name: str, value: str, amap: dict):
        equiv = (amap.get("http-equiv") or "").strip().lower()
        if name == "http-equiv" and equiv in _NEUTRALISED_EQUIV:
            # an archived policy would block the archive's own URLs (or report to the live site);
            # renamed like the header form (X-Archive-Orig-…), so the browser ignores it
            return "x-archive-orig-" + equiv
        if name == "charset":
            return "utf-8"
        if name == "content" and equiv == "content-type":
            return _META_CHARSET_RE.sub("charset=utf-8", value)
        if name == "content" and equiv == "refresh":
            m = _REFRESH_RE.match(value)
            if m and m.group(3):
                return m.group(1) + m.group(2) + self.rw.url(m.group(3), "") + m.group(2)
            return value
        if name == "content" and _is_absolute_http(value):
            return self.rw.url(value, "")
        return value


_DROP = object()

# The tokenizer. html.parser.HTMLParser calls back into Python for every token (each text run,
# end tag, entity and start tag, attributes parsed and unescaped even where nothing changes):
# that was three quarters of a rewritten replay request. Hand-written here because no maintained
# library both keeps untouched source verbatim and is fast from Python: this scanner copies every
# span that cannot change (text, end tags, comments, script content, declarations) as slices, at
# C speed through the compiled expressions below, and parses only the start tags that may hold a
# URL, exactly as HTMLParser does (its own expressions, copied from CPython 3.11's html.parser so
# a Python upgrade does not move them). tests/test_replay_rewrite.py checks that the output is
# HTMLParser's token for token over the corpus pages and edge cases.
_COMMENT_CLOSE_RE = re.compile(r"--\s*>")  # _markupbase's comment end
_TAGFIND_RE = re.compile(r"([a-zA-Z][^\t\n\r\f />\x00]*)(?:\s|/(?!>))*")
_ATTRFIND_RE = re.compile(
    r"((?<=['\"\s/])[^\s/>][^\s/=>]*)(\s*=+\s*"
    r"('[^']*'|\"[^\"]*\"|(?!['\"])[^>\s]*))?(?:\s|/(?!>))*")
_STARTTAG_END_RE = re.compile(r"""
  <[a-zA-Z][^\t\n\r\f />\x00]*       # tag name
  (?:[\s/]*                          # optional whitespace before attribute name
    (?:(?<=['"\s/])[^\s/>][^\s/=>]*  # attribute name
      (?:\s*=+\s*                    # value indicator
        (?:'[^']*'                   # LITA-enclosed value
          |"[^"]*"                   # LIT-enclosed value
          |(?!['"])[^>\s]*           # bare value
         )
        \s*                          # possibly followed by a space
       )?(?:\s|/(?!>))*
     )*
   )?
  \s*                                # trailing whitespace
""", re.VERBOSE)
#: one search per token that matters: a comment's start, a complete start tag (name, and its
#: end ">" or "/>" right after the longest run _STARTTAG_END_RE accepts), or any other "<" + letter, which
#: _start_tag_end then looks at as HTMLParser would
_SCAN_RE = re.compile(r"<(?:(?P<comment>!--)|(?P<tag>(?>" + _STARTTAG_END_RE.pattern.replace(
    "<[a-zA-Z][^\\t\\n\\r\\f />\\x00]*", "(?P<name>[a-zA-Z][^\\t\\n\\r\\f />\\x00]*)", 1)
    + r")/?>)|[a-zA-Z])", re.VERBOSE)  # "<" first: the search skips to it at C speed; (?>…): no
# backtracking, so a tag ends where HTMLParser's ends
_CDATA_END_RE = {"script": re.compile(r"</\s*script\s*>", re.I), "style": re.compile(r"</\s*style\s*>", re.I)}
#: a start tag none of whose attributes can change contains none of these (attribute names of
#: _TAG_ATTRS, _SRCSET_ATTRS, _DROP_ATTRS and style; "//" of an absolute URL value; "&" of a value
#: whose unescaped form might be one); <meta> is always parsed
_MAYBE_URL_RE = re.compile(r"src|href|action|cite|background|poster|manifest|data|codebase|longdesc|style|"
                           r"integrity|ping|//|&")  # searched in the lower-cased tag: much faster than re.I


def _start_tag_end(text: str, i: int) -> int:
    """End of the start tag at ``i`` as HTMLParser.check_for_whole_start_tag finds it, or -1
    when it is not complete (the input ends inside it)."""
    j = _STARTTAG_END_RE.match(text, i).end()
    nxt = text[j:j + 1]
    if nxt == ">":
        return j + 1
    if nxt == "/":
        if text.startswith("/>", j):
            return j + 2
        return -1 if text.startswith("/", j) else (j if j > i else i + 1)
    if nxt == "" or nxt in "abcdefghijklmnopqrstuvwxyz=/ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        return -1
    return j if j > i else i + 1


def _parse_attrs(text: str, k: int, end: int) -> tuple[list[tuple[str, str | None]], int]:
    """HTMLParser.parse_starttag's attribute loop: (name lower-cased, value unquoted and
    unescaped, or None), and where the attributes stop."""
    attrs = []
    while k < end:
        m = _ATTRFIND_RE.match(text, k)
        if not m:
            break
        name, rest, value = m.group(1, 2, 3)
        if not rest:
            value = None
        elif value[:1] == "'" == value[-1:] or value[:1] == '"' == value[-1:]:
            value = value[1:-1]
        if value:
            value = html.unescape(value)
        attrs.append((name.lower(), value))
        k = m.end()
    return attrs, k


def rewrite_html(text: str, rw: Rewriter) -> str:
    """Rewrite a decoded HTML document; returns the rewritten text (to be served as UTF-8)."""
    tags = _TagRewriter(rw)
    out: list[str] = []
    pos = 0  # text[:pos] is written
    i = 0
    n = len(text)
    scan = _SCAN_RE.search
    while True:
        m = scan(text, i)
        if m is None:
            break
        i = m.start()
        if m.lastgroup == "comment":
            c = _COMMENT_CLOSE_RE.search(text, i + 4)
            if c is None:
                break  # unclosed comment: the rest is copied as it is
            i = c.end()
            continue
        if m.lastgroup == "tag":
            end = m.end()
            tag = m.group("name").lower()
        else:  # HTMLParser's view of a "<" + letter that is no plain start tag
            end = _start_tag_end(text, i)
            if end < 0:  # the input ends inside the tag: passed on as text up to a ">"
                k = text.find(">", i + 1)
                i = k + 1 if k >= 0 else i + 1
                continue
            if text[end - 1] != ">":
                i = end  # bogus: passed on as text
                continue
            tag = _TAGFIND_RE.match(text, i + 1).group(1).lower()
        raw = text[i:end]
        closed = False
        if tag == "meta" or tag in _CDATA_END_RE or _MAYBE_URL_RE.search(raw.lower()) is not None:
            attrs, k = _parse_attrs(text, _TAGFIND_RE.match(text, i + 1).end(), end)
            rest = text[k:end].strip()
            if rest not in (">", "/>"):
                i = end  # not a start tag after all: HTMLParser passes it on as text
                continue
            closed = rest == "/>"  # "<a href=/x/>" is not: the value is "/x/"
            new = tags.tag(tag, attrs, raw, closed=closed)
            if new is not raw:
                out.append(text[pos:i])
                out.append(new)
                pos = end
        i = end
        if tag in _CDATA_END_RE and not closed:
            # script and style content is raw text up to the end tag: scripts are copied, the
            # CSS of a <style> element is rewritten
            c = _CDATA_END_RE[tag].search(text, end)
            stop = c.start() if c is not None else n
            if tag == "style":
                css = text[end:stop]
                new_css = rewrite_css(css, rw)
                if new_css != css:
                    out.append(text[pos:end])
                    out.append(new_css)
                    pos = stop
            i = stop
    out.append(text[pos:])
    return "".join(out)


# Client-side half of the rewriting, for pages that build themselves with scripts (what a
# browser capture records): their fetch()/XMLHttpRequest calls and the src they set on images,
# scripts and frames are relative to the *archived* URL and must reach the archive, not the live
# web nor Naql's own paths. pywb does this with wombat.js (thousands of lines covering every DOM
# API); Naql injects this small shim instead, covering the calls that load a page's content, and
# relies on the replay CSP to keep anything it misses from reaching the live web.
_SHIM = """<script>(function(){var B=%(base)s,P=%(prefix)s,T=%(ts)s;
function rw(u,m){if(u===null||u===undefined)return u;var s=String(u),a;
try{a=new URL(s,B);}catch(e){return u;}
if(a.protocol!=="http:"&&a.protocol!=="https:")return u;
if(a.origin===location.origin&&a.pathname.indexOf(P+"/")===0)return u;
return P+"/"+T+m+"/"+a.href;}
if(window.fetch){var f=window.fetch;window.fetch=function(i,o){
if(typeof i==="string"||i instanceof URL){i=rw(i,"id_");}
else if(i&&i.url){i=new Request(rw(i.url,"id_"),i);}return f.call(this,i,o);};}
var x=XMLHttpRequest.prototype.open;XMLHttpRequest.prototype.open=function(m,u){
var a=Array.prototype.slice.call(arguments);a[1]=rw(u,"id_");return x.apply(this,a);};
[[window.HTMLImageElement,"src","im_"],[window.HTMLScriptElement,"src","js_"],
 [window.HTMLIFrameElement,"src","if_"],[window.HTMLSourceElement,"src","im_"]].forEach(function(t){
if(!t[0])return;var d=Object.getOwnPropertyDescriptor(t[0].prototype,t[1]);if(!d||!d.set)return;
Object.defineProperty(t[0].prototype,t[1],{configurable:true,enumerable:d.enumerable,get:d.get,
set:function(v){d.set.call(this,rw(v,t[2]));}});});
})();</script>"""

_HEAD_RE = re.compile(r"<head(?:\s[^>]*)?>", re.I)


def inject_client_shim(html: str, rw: Rewriter) -> str:
    """``html`` with the replay shim (see ``_SHIM``) as the first script of the document: right
    after ``<head>``, or at the very start when there is none."""
    import json

    def js(value: str) -> str:
        return json.dumps(value).replace("</", "<\\/")

    shim = _SHIM % {"base": js(rw.base_url), "prefix": js(rw.prefix), "ts": js(rw.ts)}
    m = _HEAD_RE.search(html)
    if m is None:
        return shim + html
    return html[: m.end()] + shim + html[m.end():]
