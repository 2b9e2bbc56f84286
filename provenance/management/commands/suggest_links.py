"""``manage.py suggest_links DOWNSTREAM_URL UPSTREAM_URL [--json] [--save]``: claim-link suggestions
between the latest snapshots of two documents (provenance.suggest)."""

from __future__ import annotations

import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from provenance.documents import document_for_url
from provenance.embeddings import get_embedder
from provenance.suggest import NoSnapshot, save_pair, suggest_for_pair


class Command(BaseCommand):
    help = ("Suggest links from the claims of DOWNSTREAM_URL's latest snapshot to the sentences of "
            "UPSTREAM_URL's latest snapshot: downstream text, upstream text, relation, confidence.")

    def add_arguments(self, parser):
        parser.add_argument("downstream_url")
        parser.add_argument("upstream_url")
        parser.add_argument("--json", action="store_true",
                            help="one JSON object per line (downstream, upstream, relation, confidence, …)")
        parser.add_argument("--save", action="store_true", help="store them as suggested claim links")
        parser.add_argument("--threshold", type=float, default=None, help="confidence threshold (default: the aligner's)")
        parser.add_argument("--no-embeddings", action="store_true", help="align without sentence embeddings")
        parser.add_argument("--user", help="with --save: username recorded in the history")

    def _document(self, url: str):
        doc = document_for_url(url)
        if doc is None:
            raise CommandError(f"no document for {url} (capture it first)")
        if doc.latest_snapshot() is None:
            raise CommandError(f"no snapshot with text for {url} (capture it first)")
        return doc

    def handle(self, *args, **opts):
        down, up = self._document(opts["downstream_url"]), self._document(opts["upstream_url"])
        if down.pk == up.pk:
            raise CommandError("the two URLs are the same document")
        user = None
        if opts.get("user"):
            user = get_user_model().objects.filter(username=opts["user"]).first()
            if user is None:
                raise CommandError(f"no user {opts['user']}")
        embedder = None if opts["no_embeddings"] else get_embedder()
        try:
            suggestions = suggest_for_pair(down, up, embedder=embedder, threshold=opts["threshold"])
        except NoSnapshot as exc:
            raise CommandError(str(exc)) from exc
        for s in suggestions:
            if opts["json"]:
                self.stdout.write(json.dumps(s.as_dict(), ensure_ascii=False))
            else:
                flag = " origin" if s.origin else ""
                self.stdout.write(f"{s.confidence:.2f} {s.relation}{flag}\n  ↓ {s.down_text}\n  ↑ {s.up_text}")
        if opts["save"]:
            run = save_pair(down, up, suggestions, user=user)
            self.stderr.write(f"saved: {run.summary()}")
        elif not opts["json"]:
            emb = f"{embedder.name}" if embedder is not None else "none"
            self.stdout.write(f"{len(suggestions)} suggestion(s); embedder {emb}")
