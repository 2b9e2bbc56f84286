"""Enter the links of a gold ``claims.json`` as manual, accepted ClaimLinks (demo and tests)."""

from __future__ import annotations

import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from provenance.documents import document_for_url
from provenance.models import ClaimLink, ReviewStatus
from provenance.text.claims import claim_for_text


def _snapshot_with(document, exact: str):
    for snap in document.snapshots():
        if exact in snap.text:
            return snap
    return None


def load_gold_links(path: str | Path, *, user=None, set_kinds: bool = False) -> dict:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    down_doc = document_for_url(data["document"])
    if down_doc is None:
        raise CommandError(f"no document for {data['document']}: capture it first")
    made, missing = 0, []
    with transaction.atomic():
        for item in data["claims"]:
            snap = _snapshot_with(down_doc, item["exact"])
            claim = claim_for_text(down_doc, item["exact"], snap, origin="gold", user=user) if snap else None
            if claim is None:
                missing.append(item["id"])
                continue
            if set_kinds and item.get("kind") and claim.kind != item["kind"]:
                claim.kind = item["kind"]
                if user is not None:
                    claim._history_user = user
                claim.save()
            for up in item.get("upstream", []):
                up_doc = document_for_url(up["url"])
                up_snap = _snapshot_with(up_doc, up["exact"]) if up_doc else None
                up_claim = claim_for_text(up_doc, up["exact"], up_snap, origin="gold", user=user) if up_snap else None
                if up_claim is None:
                    missing.append(f"{item['id']}→{up['url']}")
                    continue
                link, created = ClaimLink.objects.get_or_create(
                    claim=claim, upstream_claim=up_claim,
                    defaults={"upstream_document": up_doc, "relation": up["relation"], "origin": up["origin"],
                              "method": ClaimLink.Method.MANUAL, "status": ReviewStatus.ACCEPTED,
                              "confidence": 1.0, "note": item.get("note", ""), "created_by": user},
                )
                made += int(created)
    return {"links_created": made, "missing": missing}


class Command(BaseCommand):
    help = "Enter the upstream links of a gold claims.json as manual accepted claim links."

    def add_arguments(self, parser):
        parser.add_argument("path", help="claims.json in the corpus gold format")
        parser.add_argument("--user", help="username recorded as the author of the links")
        parser.add_argument("--set-kinds", action="store_true", help="also set each claim's kind from the gold")

    def handle(self, *args, **opts):
        user = None
        if opts.get("user"):
            user = get_user_model().objects.filter(username=opts["user"]).first()
            if user is None:
                raise CommandError(f"no user {opts['user']}")
        result = load_gold_links(opts["path"], user=user, set_kinds=opts["set_kinds"])
        self.stdout.write(json.dumps(result, ensure_ascii=False))
        if result["missing"]:
            raise CommandError(f"{len(result['missing'])} gold entries not found in the archive")
