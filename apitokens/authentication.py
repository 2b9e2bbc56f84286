"""DRF authentication by API token, from the ``Authorization`` header only.

``Authorization: Token <key>`` or ``Authorization: Bearer <key>``. Keys in query strings or
bodies are never read. The authenticated user is also put on the Django request so that
django-simple-history records it as the author of every change made in the request.
"""

from __future__ import annotations

from rest_framework import authentication, exceptions

from apitokens.models import ApiToken

KEYWORDS = ("token", "bearer")


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode("latin-1").lower() not in KEYWORDS:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: expected 'Token <key>'.")
        try:
            key = header[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("Invalid token.") from exc
        token = ApiToken.authenticate(key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        # simple_history's middleware reads the user from the Django request
        request._request.user = token.user
        return token.user, token

    def authenticate_header(self, request):
        return 'Token realm="api"'
