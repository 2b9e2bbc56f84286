"""Repeated archived header lines, sent as they were archived (RFC 9110 §5.3).

Django keeps one value per header name, so a response can hold only one ``X-Archive-Orig-Link``
or ``Vary``. An archived response often repeats ``Link``, ``Vary`` or ``Cache-Control`` on several
lines; folding them into one line with commas is allowed for list-valued fields but not for all
(``Set-Cookie``, and fields whose values contain commas). So the first line goes into the normal
headers and each further line is kept aside and emitted by ``items()``, which Django's WSGI and
ASGI handlers (and gunicorn through them) use to write the header block.
"""

from __future__ import annotations

_CLASSES: dict[type, type] = {}


def add_header_line(out, name: str, value: str) -> None:
    """Set ``name: value`` on ``out`` (replacing a default such as Django's Content-Type); a second
    archived line with the same name is kept, not overwritten."""
    seen = out.__dict__.setdefault("_archived_header_names", set())
    if name.lower() not in seen:
        out.headers[name] = value
        seen.add(name.lower())
        return
    if not hasattr(out, "repeated_header_lines"):
        cls = type(out)
        sub = _CLASSES.get(cls)
        if sub is None:
            sub = _CLASSES[cls] = type(cls.__name__, (cls,), {"items": _items})
        out.__class__ = sub
        out.repeated_header_lines = []
    out.repeated_header_lines.append((name, _checked(out, name, value)))


def header_lines(out, name: str) -> list[str]:
    """Every value sent for ``name``, in order (tests and callers reading the whole header block)."""
    low = name.lower()
    return [v for k, v in out.items() if k.lower() == low]


def _checked(out, name: str, value: str) -> str:
    probe = type(out.headers)({})
    probe[name] = value  # Django's own validation (no CR/LF, encodable)
    return probe[name]


def _items(self):
    return [*type(self).__mro__[1].items(self), *getattr(self, "repeated_header_lines", [])]
