"""Site-wide request checks that belong to no app.

:class:`RefuseNulMiddleware` — a NUL character (U+0000) in a query parameter is refused with 400
on every page and endpoint, before any view runs. No Naql parameter can hold one (a URL that
contains a NUL byte carries it percent-encoded, ``%2500`` in a query string), and PostgreSQL
text cannot store or compare one: left to the views, it reached a lookup (an admin search, an
API filter) and raised a DataError, a 500 on PostgreSQL and a silent mismatch on SQLite. Replay
(``/web/…``) is left alone: there the query string is part of the archived URL. Paths are left
to the URL patterns (an ID with a NUL matches no object: 404).
JSON bodies get the same rule from :class:`naql.api_base.JSONParser`.
"""

from __future__ import annotations

from django.http import HttpResponseBadRequest, JsonResponse


class RefuseNulMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.META.get("QUERY_STRING") and not request.path_info.startswith("/web/"):
            for key, values in request.GET.lists():
                if "\x00" in key or any("\x00" in v for v in values):
                    return self._refuse(request, key.replace("\x00", "\\0"))
        return self.get_response(request)

    @staticmethod
    def _refuse(request, where: str):
        message = f"NUL characters are not allowed ({where})."
        if request.path_info.startswith("/api/"):
            from naql.api import error_body

            return JsonResponse(error_body("invalid", f"Invalid input: {message}", {where: [message]}), status=400)
        return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
