"""Send sealed packages to the central server: resumable, idempotent, offline-first."""
