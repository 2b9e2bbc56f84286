"""Detect: relations between documents (candidates, cue and content evidence, decision).
"""
