"""Template filters and tags of the archive pages."""

from __future__ import annotations

from django import template
from django.utils.html import json_script
from django.utils.translation import gettext, gettext_noop

from archive.uri import uri_to_iri

register = template.Library()


@register.filter
def iri(url: str) -> str:
    """The URL as people read it (:func:`archive.uri.uri_to_iri`): ``%D8%A7`` → ``ا``, ``xn--``
    hosts in Unicode. For display only, next to (or linking to) the exact ASCII form."""
    return uri_to_iri(url or "")


#: What the pages' scripts (naql.js, workbench.js) say, translated on the server like every other
#: interface string (so `django.po` holds them and the i18n test checks them) and handed to the
#: script as a JSON data block: no extra request, nothing executable inline (a strict CSP holds).
JS_MESSAGES = {
    "pending": gettext_noop("queued"),
    "running": gettext_noop("running"),
    "fetched": gettext_noop("fetched"),
    "written": gettext_noop("written"),
    "succeeded": gettext_noop("succeeded"),
    "failed": gettext_noop("failed"),
    "retry": gettext_noop("retry %(n)s"),
    "captured": gettext_noop("Captured:"),
    "failed_because": gettext_noop("Failed: %(message)s [%(code)s]"),
    "waiting": gettext_noop("Waiting for a worker…"),
    "done_hidden": gettext_noop("Done; its snapshot is not available to you."),
    "capturing": gettext_noop("Capturing…"),
    "not_queued": gettext_noop("Could not queue the capture."),
    "no_answer": gettext_noop("Naql did not answer; try again."),
    "copied": gettext_noop("Copied %(what)s to the clipboard."),
    "press_copy": gettext_noop("Press Ctrl+C to copy the selected text."),
    "choose_two": gettext_noop("Choose two different captures."),
    "saving": gettext_noop("Saving…"),
    "accepted_recorded": gettext_noop("Accepted — recorded in the history."),
    "rejected_recorded": gettext_noop("Rejected — recorded in the history."),
    "not_saved": gettext_noop("Not saved (permission or network problem). Try again, or use Edit."),
}


@register.simple_tag
def naql_js_messages() -> str:
    """``<script type="application/json" id="nq-msgs">`` with :data:`JS_MESSAGES` in the page's language."""
    return json_script({k: gettext(v) for k, v in JS_MESSAGES.items()}, "nq-msgs")
