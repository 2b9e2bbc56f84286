"""Store: append-only WARC files, fixity audit, WARC/ARC/WACZ ingest, reading records back.

May import: archive.models, archive.errors, archive.uri, archive.capture.fetch (content decoding).
"""
