"""Archive workspace, audit: the access log is append-only on both record backends, admins read it on a page
and export it as CSV (the export itself logged; formulas defused), archivists cannot read it."""

from __future__ import annotations

import csv
import io

import pytest
from archive_support import archive, three_page_pdf  # noqa: F401 - fixtures
from lxml import html
from records_support import open_records, records, records_target  # noqa: F401 - fixtures

from server.archive import audit
from tests.support.web import ADMIN


def test_log_is_append_only(records):  # noqa: F811 - fixture
    audit.record(records, actor="chi.luutru", action="view_hoso", target="urn:uuid:1", address="10.0.0.5")
    audit.record(records, actor="chi.luutru", action="download", target="urn:uuid:1/doc", address="10.0.0.5")
    for sql in ("UPDATE archive_audit SET actor = 'someone-else'", "DELETE FROM archive_audit"):
        try:
            with records.tx() as conn:
                conn.execute(sql)
        except Exception:  # noqa: BLE001 - SQLite refuses (trigger); PostgreSQL's rules make it a no-op
            pass
    rows = audit.entries(records)
    assert [(r["actor"], r["action"]) for r in rows] == [("chi.luutru", "download"), ("chi.luutru", "view_hoso")]
    assert rows[0]["id"] > rows[1]["id"]
    with pytest.raises(ValueError):
        audit.record(records, actor="x", action="rewrite_history", target="", address="")


def test_filters_on_both_backends(records):  # noqa: F811 - fixture
    from protocol.clock import now_vn

    audit.record(records, actor="an.loc", action="download", target="urn:uuid:AAA/doc-1", address="10.0.0.9")
    audit.record(records, actor="an.loc", action="copy", target="urn:uuid:AAA/doc-1", address="10.0.0.9")
    audit.record(records, actor="binh.loc", action="download", target="urn:uuid:BBB/doc-2", address="10.0.0.9")
    today = now_vn().date().isoformat()

    def actions(**kw) -> list[tuple[str, str]]:
        return [(r["actor"], r["action"]) for r in audit.entries(records, where=audit.Filter(**kw))]

    assert len(actions()) == 3
    assert actions(actor="an.loc", action="download") == [("an.loc", "download")]
    assert actions(target="BBB") == [("binh.loc", "download")]
    assert len(actions(since=today, until=today)) == 3  # the whole of today, on either collation
    assert actions(until="2000-01-01") == [] and actions(since="2999-01-01") == []
    assert "binh.loc" in audit.to_csv(records)  # positive control: unfiltered, the same probe sees binh.loc
    exported = audit.to_csv(records, audit.Filter(actor="an.loc"))
    assert exported.count("an.loc") == 2 and "binh.loc" not in exported


def test_csv_defuses_formulas(records):  # noqa: F811 - fixture
    audit.record(records, actor="chi.luutru", action="search", target="=HYPERLINK(\"http://x\")", address="::1")
    rows = list(csv.reader(io.StringIO(audit.to_csv(records).lstrip("\ufeff"))))
    assert rows[0] == list(audit.COLUMNS)
    assert rows[1][4] == "'=HYPERLINK(\"http://x\")"


def test_admin_reads_and_exports_the_log(archive):  # noqa: F811 - fixture
    archive.session().get(f"{archive.url}/archive/hoso/{archive.objid}", timeout=30)  # an archivist's view
    admin = archive.session(ADMIN)
    page = html.fromstring(admin.get(archive.url + "/archive/audit", timeout=30).text)
    rows = [[td.text_content() for td in tr.xpath("./td")]
            for tr in page.get_element_by_id("audit").xpath(".//tbody/tr")]
    assert any(r[2] == "chi.luutru" and r[3] == "Xem hồ sơ" and r[4] == archive.objid and r[5] == "127.0.0.1"
               for r in rows)  # the action in Vietnamese, never its code
    resp = admin.get(archive.url + "/archive/audit.csv", timeout=30)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in resp.headers["Content-Disposition"]
    exported = list(csv.DictReader(io.StringIO(resp.content.decode("utf-8-sig"))))
    assert any(r["actor"] == "chi.luutru" and r["action"] == "view_hoso" for r in exported)
    last = audit.entries(archive.context.db, limit=1)[0]
    assert (last["actor"], last["action"], last["target"]) == (ADMIN[0], "export", "audit.csv")
    assert archive.session().get(archive.url + "/archive/audit.csv", timeout=30).status_code == 403


def test_admin_filters_the_log_and_exports_what_is_shown(archive):  # noqa: F811 - fixture
    db = archive.context.db
    for actor, action, target in (("an.loc", "download", "urn:uuid:AAA/doc-1"),
                                  ("an.loc", "copy", "urn:uuid:AAA/doc-1"),
                                  ("binh.loc", "download", "urn:uuid:QRS-ONLY/doc-2")):
        audit.record(db, actor=actor, action=action, target=target, address="10.0.0.9")
    admin = archive.session(ADMIN)

    def shown(**params) -> list[list[str]]:
        page = html.fromstring(admin.get(archive.url + "/archive/audit", params=params, timeout=30).text)
        return [[td.text_content() for td in tr.xpath("./td")]
                for tr in page.get_element_by_id("audit").xpath(".//tbody/tr")]

    everything = shown()
    assert {r[2] for r in everything} >= {"an.loc", "binh.loc"}  # the probe sees all three first
    rows = shown(actor="an.loc", action="download")
    assert [(r[2], r[3], r[4]) for r in rows] == [("an.loc", "Tải về", "urn:uuid:AAA/doc-1")]
    # Q, R, S cannot occur in the fixture's own hex OBJIDs, which also sit in the log
    assert {r[2] for r in shown(target="QRS-ONLY")} == {"binh.loc"}
    today = rows[0][1][:10]
    assert len(shown(actor="an.loc", since=today, until=today)) == 2
    assert shown(actor="an.loc", until="2000-01-01") == []
    resp = admin.get(archive.url + "/archive/audit.csv", params={"actor": "an.loc"}, timeout=30)
    exported = list(csv.DictReader(io.StringIO(resp.content.decode("utf-8-sig"))))
    assert sorted(r["action"] for r in exported) == ["copy", "download"]
    last = audit.entries(db, limit=1)[0]
    assert (last["actor"], last["action"], last["detail"]) == (ADMIN[0], "export", "actor=an.loc")
    assert archive.session().get(archive.url + "/archive/audit", timeout=30).status_code == 403


def test_every_action_has_its_vietnamese_name():

    from server.labels import LABELS, label_in

    missing = [a for a in audit.ACTIONS if a not in LABELS["audit_action"]
               or label_in("audit_action", a, "vi") == label_in("audit_action", a, "en")]
    assert not missing, f"add the audit actions' names (server/labels.py, the vi catalogue) for {missing}"
