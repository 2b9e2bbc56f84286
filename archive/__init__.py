"""Archive: bytes on the wire and their keeping (capture, WARC storage, replay, extraction)."""

from functools import cache


@cache
def software_versions() -> dict[str, str]:
    """Versions of the tools behind a capture, recorded in every warcinfo and metadata record."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist, key in (("naql", "naql"), ("warcio", "warcio"), ("trafilatura", "trafilatura"),
                      ("htmldate", "htmldate"), ("django", "django"), ("lxml", "lxml")):
        try:
            out[key] = version(dist)
        except PackageNotFoundError:
            out[key] = "unknown"
    if out["naql"] == "unknown":
        from naql import __version__

        out["naql"] = __version__
    return out
