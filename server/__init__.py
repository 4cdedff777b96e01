"""The central archive: ingest, checks, storage, catalog, monitor and the supervisor's web UI."""
