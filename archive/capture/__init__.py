"""Capture: the guarded raw HTTP client, the SSRF guard, page requisites and capture orchestration.

May import: archive.models, archive.errors, archive.uri, archive.store. Never replay or web.
"""
