"""Extract: derived text of a snapshot (charset, metadata, article body, links and embeds).

May import: archive.models and nothing of capture's network side, replay or web.
"""
