"""Replay: Wayback-style replay views, the HTML/CSS rewriter and Memento (TimeGate, TimeMaps).
"""
