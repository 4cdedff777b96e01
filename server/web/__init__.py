"""The supervisor's web UI: dashboard, archive search."""
