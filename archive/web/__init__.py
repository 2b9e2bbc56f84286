"""Web: the public pages (home, snapshot page, citations, versions and diffs) and their URLs.
"""
