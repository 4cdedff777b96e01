"""Receive packages from stations: resumable upload, verify, store atomically, answer with a receipt."""
