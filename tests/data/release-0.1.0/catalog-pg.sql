
CREATE TABLE IF NOT EXISTS packages (
  objid TEXT PRIMARY KEY,
  file_code TEXT, kind TEXT, record_status TEXT, title TEXT, fonds_code TEXT,
  start_date TEXT, end_date TEXT,
  total_doc INTEGER, number_of_page INTEGER, number_of_paper INTEGER,
  stored_path TEXT, sha256 TEXT, station_id TEXT, added_at TEXT, superseded_by TEXT, hoso TEXT
);
CREATE INDEX IF NOT EXISTS packages_file_code ON packages (file_code);
CREATE TABLE IF NOT EXISTS documents (
  id TEXT PRIMARY KEY,
  objid TEXT NOT NULL, doc_id TEXT, doc_code TEXT, ordinal INTEGER, subject TEXT, organ_name TEXT,
  issued_date TEXT, type_name TEXT, page_count INTEGER, pdf_member TEXT, fields TEXT, text TEXT
);
CREATE INDEX IF NOT EXISTS documents_objid ON documents (objid);
CREATE TABLE IF NOT EXISTS search (
  id BIGSERIAL PRIMARY KEY,
  objid TEXT NOT NULL, doc_id TEXT NOT NULL, raw TEXT NOT NULL, folded TEXT NOT NULL,
  tsv TSVECTOR NOT NULL
);
CREATE INDEX IF NOT EXISTS search_objid ON search (objid);
CREATE INDEX IF NOT EXISTS search_tsv ON search USING GIN (tsv);
