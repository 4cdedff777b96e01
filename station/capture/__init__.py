"""Capture: SANE devices and folder imports, scanner profiles, and the durable page journal.

Nothing here reports a page to anyone before its file is fsynced and its journal row committed.
"""
