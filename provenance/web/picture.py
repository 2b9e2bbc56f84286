"""The chain of a document as an inline SVG picture (no script, no external resource).

Columns by depth: the document, then the documents it uses, then theirs, to the origins; one row
per hop in depth-first order, so a branch reads as a block. Each box names the language, the
outlet and the relation; the title is drawn in its own direction (``direction``/``unicode-bidi``
on the ``<text>``). A suggested relation is dashed; an origin (nothing further upstream) is
green. With ``rtl=True`` (Arabic interface) the picture is mirrored: the document on the right.

Hand-written rather than a graph library: the tree is shallow, the layout is three lines of
arithmetic, and the page must render with no client-side code.
"""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from provenance.chain import document_chain
from provenance.models import Document, ReviewStatus
from provenance.visibility import display_title
from provenance.web.page import outlet, text_dir

COL_W, COL_GAP, ROW_H, ROW_GAP, PAD = 250, 150, 74, 14, 10
CHAR_W = 7.0
META_W = 7.6  # the bold 12 px meta line
FILL = {"root": ("#e6f0fa", "#0b4f8a"), "origin": ("#e3f5ea", "#17693a"), "node": ("#ffffff", "#5b6578")}


def wrap_words(text: str, per_line: int, lines: int = 2) -> list[str]:
    """Greedy word wrap for SVG text (which does not wrap): at most ``lines`` lines of at most
    ``per_line`` characters, a word longer than a line cut, "…" where the text was cut. Shared by
    the document chain here and the claim chain of the admin workbench."""
    out: list[str] = []
    cur = ""
    for w in text.split():
        w = w if len(w) <= per_line else w[: per_line - 1] + "…"
        if cur and len(cur) + 1 + len(w) > per_line:
            out.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    if cur:
        out.append(cur)
    if len(out) > lines:
        out = out[:lines]
        out[-1] = out[-1][: per_line - 1].rstrip() + "…"
    return out


def _lines(text: str, width: float, n: int = 2) -> list[str]:
    return wrap_words(text, max(10, int(width / CHAR_W)), n)


def _label_lines(r) -> list[str]:
    """The relation's name in at most two lines that fit between the columns (suggested ones say so)."""
    text = str(r.get_type_display())
    if r.status == ReviewStatus.SUGGESTED:
        text += f" ({_('suggested')})"
    return _lines(text, COL_GAP - 34, 2)


def _nodes(document: Document, visible_relation_ids: set[int]) -> list[dict]:
    nodes = [{"depth": 0, "parent": None, "doc": document, "rel": None, "origin": False, "cycle": False}]

    def add(hops, parent: int) -> None:
        for h in hops:
            if h.relation.pk not in visible_relation_ids:
                continue
            kids = [c for c in h.children if c.relation.pk in visible_relation_ids]
            nodes.append({"depth": nodes[parent]["depth"] + 1, "parent": parent, "doc": h.relation.target,
                          "rel": h.relation, "origin": not kids and not h.cycle, "cycle": h.cycle})
            add(h.children, len(nodes) - 1)

    add(document_chain(document), 0)
    return nodes


def document_chain_svg(document: Document, visible_relation_ids: set[int], *, rtl: bool = False) -> str:
    """The SVG markup (safe) of ``document``'s chain; relations not in ``visible_relation_ids`` are left out."""
    nodes = _nodes(document, visible_relation_ids)
    depth = max(n["depth"] for n in nodes)
    width = PAD * 2 + (depth + 1) * COL_W + depth * COL_GAP
    height = PAD * 2 + len(nodes) * (ROW_H + ROW_GAP) - ROW_GAP

    def x_of(d: int) -> float:
        x = PAD + d * (COL_W + COL_GAP)
        return width - x - COL_W if rtl else x

    def y_of(i: int) -> float:
        return PAD + i * (ROW_H + ROW_GAP)

    edges, boxes = [], []
    for i, n in enumerate(nodes):
        x, y = x_of(n["depth"]), y_of(i)
        if n["parent"] is not None:
            p = n["parent"]
            px, py = x_of(nodes[p]["depth"]), y_of(p)
            start_x = px if rtl else px + COL_W  # the parent's outer edge, towards the sources
            end_x = x + COL_W if rtl else x
            mid = start_x - 16 if rtl else start_x + 16  # the trunk near the parent; labels sit beside the child
            r = n["rel"]
            dashed = ' stroke-dasharray="6 4"' if r.status == ReviewStatus.SUGGESTED else ""
            colour = "#17693a" if r.status == ReviewStatus.ACCEPTED else "#7a4f00"
            label = _label_lines(r)
            lx = end_x + 6 if rtl else end_x - 6  # beside the child, on the line into it
            # "end" is the right edge in left-to-right text and the left edge in right-to-left text:
            # either way the label grows away from the child box
            anchor, label_dir = "end", ("rtl" if rtl else "ltr")
            edges.append(format_html(
                '<path d="M{} {} H{} V{} H{}" fill="none" stroke="{}" stroke-width="2"{} marker-start="url(#nq-doc-arrow)"/>'
                '{}',
                start_x, py + 22, mid, y + ROW_H / 2, end_x, colour, mark_safe(dashed),  # noqa: S308 - constant
                format_html_join("", '<text x="{}" y="{}" class="nq-pic-rel" text-anchor="{}" direction="{}">{}</text>',
                                 ((lx, y + ROW_H / 2 - 6 - (len(label) - 1 - k) * 13, anchor, label_dir, line)
                                  for k, line in enumerate(label)))))
        kind = "root" if n["parent"] is None else ("origin" if n["origin"] else "node")
        fill, stroke = FILL[kind]
        d = n["doc"]
        lang = d.language or "und"
        meta = f"{lang.upper()} · {outlet(d)}"
        if n["cycle"]:
            meta += " · " + _("cycle")
        room = int((COL_W - 20 - (64 if n["origin"] else 0)) / META_W)  # keep clear of the ORIGIN badge
        meta_shown = meta if len(meta) <= room else meta[: room - 1] + "…"
        direction = "rtl" if text_dir(d.language) == "rtl" else "ltr"
        tx, anchor = (x + COL_W - 10, "start") if direction == "rtl" else (x + 10, "start")
        title_lines = _lines(display_title(d), COL_W - 20)
        text_svg = format_html_join("", '<text x="{}" y="{}" direction="{}" text-anchor="{}" unicode-bidi="embed" '
                                        'lang="{}" class="nq-pic-title">{}</text>',
                                    ((tx, y + 40 + k * 17, direction, anchor, lang, line)
                                     for k, line in enumerate(title_lines)))
        badge = ""
        if n["origin"]:
            bx = x + 8 if rtl else x + COL_W - 64
            badge = format_html('<rect x="{}" y="{}" width="56" height="16" rx="8" fill="#17693a"/>'
                                '<text x="{}" y="{}" class="nq-pic-badge" text-anchor="middle">{}</text>',
                                bx, y + 6, bx + 28, y + 18, _("origin").upper())
        mx, manchor = (x + COL_W - 10, "end") if rtl else (x + 10, "start")
        body = format_html(
            '<title>{}</title><rect x="{}" y="{}" width="{}" height="{}" rx="6" fill="{}" stroke="{}" stroke-width="1.5"/>'
            '<text x="{}" y="{}" class="nq-pic-meta" text-anchor="{}" direction="ltr">{}</text>{}{}',
            f"{display_title(d)} ({meta})", x, y, COL_W, ROW_H, fill, stroke, mx, y + 18, manchor, meta_shown, text_svg,
            badge)
        boxes.append(format_html('<a href="/d/{}" class="nq-pic-node">{}</a>', d.pk, body) if n["parent"] is not None
                     else format_html('<g class="nq-pic-node">{}</g>', body))
    desc = "; ".join(f"{n['rel'].get_type_display()}: {display_title(n['doc'])} ({outlet(n['doc'])})"
                     for n in nodes if n["rel"] is not None) or _("No upstream relations recorded.")
    return format_html(
        '<svg class="nq-pic" viewBox="0 0 {} {}" width="{}" height="{}" role="group" aria-labelledby="nq-pic-t" aria-describedby="nq-pic-d" '
        'xmlns="http://www.w3.org/2000/svg"><title id="nq-pic-t">{}</title><desc id="nq-pic-d">{}</desc>'
        '<defs><marker id="nq-doc-arrow" viewBox="0 0 10 10" refX="5" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" fill="#5b6578"/></marker></defs>{}{}</svg>',
        width, height, width, height, _("Chain of this document to its origins"), desc,
        mark_safe("".join(edges)), mark_safe("".join(boxes)))  # noqa: S308 - every part built by format_html
