
CREATE TABLE IF NOT EXISTS stations (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  token_hash TEXT NOT NULL,
  mqtt_password TEXT NOT NULL,
  revoked INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS fonds (
  code TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  archive_code TEXT NOT NULL DEFAULT '',
  record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS workorders (
  id TEXT PRIMARY KEY,
  fonds_code TEXT NOT NULL REFERENCES fonds(code),
  file_code TEXT NOT NULL,
  record TEXT NOT NULL,
  expected_sheets INTEGER NOT NULL,
  priority INTEGER NOT NULL DEFAULT 0,
  station_id TEXT,
  state TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS uploads (
  id TEXT PRIMARY KEY,
  station_id TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  size BIGINT NOT NULL,
  file_code TEXT,
  batch_uid TEXT,
  work_order_id TEXT,
  expected_sheets INTEGER,
  received BIGINT NOT NULL DEFAULT 0,
  state TEXT NOT NULL,
  receipt TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  UNIQUE (station_id, sha256)
);
