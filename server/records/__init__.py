"""The server's records (stations, work orders, uploads, receipts, users), SQLite or PostgreSQL."""
