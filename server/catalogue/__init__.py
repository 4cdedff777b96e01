"""The catalogue: full-text search of the stored packages, on SQLite or PostgreSQL."""
