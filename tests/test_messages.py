"""Messages by key (protocol/errors.py, protocol/i18n.py): every text a user reads comes from the one
catalogue, so switching to English never leaves Vietnamese behind, and every message of the code has its
Vietnamese translation.

The rule for Vietnamese in Python code (protocol/, station/, server/, sohoa/): a string literal holding a
Vietnamese letter (ă â đ ê ô ơ ư or a tone mark) is UI text outside the catalogue, and fails this test, unless
  - it is a docstring, or the msgid of a catalogue marker (N_, _, gettext, lazy_gettext, ngettext): English
    that names a thing by its Vietnamese term ("pages of this hồ sơ");
  - it is English once the project's Vietnamese terms are taken out (TERMS: log lines, CLI help);
  - it lies in a top-level name listed in ALLOWED with the reason it is not UI text: the standard's own
    words (TT05 code tables), what is printed on or signed into a document (the biên bản, a certified copy,
    a cover sheet, a signature's reason), words read from documents or spreadsheets, and sample data.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from babel.messages.extract import extract_from_file

from protocol.errors import Joined, Label, Message, NotFound, UserError, say, translated, with_texts
from protocol.i18n import N_, translate

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("protocol", "station", "server", "sohoa")
VIETNAMESE = re.compile(r"[ăâđêôơưĂÂĐÊÔƠƯàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"
                        r"ÀÁẢÃẠẰẮẲẴẶẦẤẨẪẬÈÉẺẼẸỀẾỂỄỆÌÍỈĨỊÒÓỎÕỌỒỐỔỖỘỜỚỞỠỢÙÚỦŨỤỪỨỬỮỰỲÝỶỸỴ]")
TERMS = re.compile(r"(?i)\b(hồ sơ|tài liệu|trích yếu|biên bản|nghiệm thu|mục lục|phông)\b")
MARKERS = {"N_", "_", "gettext", "lazy_gettext", "ngettext"}

TT05 = "the TT05 standard's code tables: its own words, stored in packages as they are"
PRINTED = "printed on or signed into a document the law wants in Vietnamese, whatever the screen's language"
READ = "words read from Vietnamese documents or spreadsheets (OCR suggestions, inventory headers)"
SAMPLE = "sample and demo data: Vietnamese records, as real ones are"
ALLOWED: dict[tuple[str, str], str] = {
    **{("protocol/metadata.py", name): TT05
       for name in ("CONFIDENCE", "FORMAT", "LANGUAGE", "MAINTENANCE", "MODE", "RISK_STATUS", "TYPE_NAME")},
    ("protocol/package/sample.py", "sample_documents"): SAMPLE,
    ("protocol/package/sample.py", "sample_file"): SAMPLE,
    ("server/archive/bienban.py", "KIND_VI"): PRINTED,
    ("server/archive/bienban.py", "file_record"): PRINTED,
    ("server/archive/bienban.py", "render"): PRINTED,
    ("server/archive/bienban.py", "plan_lines"): PRINTED,
    ("server/archive/copies.py", "make_copy"): PRINTED,
    ("server/archive/copies_dip.py", "PURPOSE_VI"): PRINTED,
    ("server/archive/copies_dip.py", "auth_lines"): PRINTED,
    ("server/archive/copies_dip.py", "build"): PRINTED,
    ("server/archive/copies_dip.py", "request_ead"): PRINTED,
    ("server/archive/signing.py", "archive_name"): PRINTED + " (the archive's default name)",
    ("server/archive/signing.py", "sign"): PRINTED,
    ("server/config.py", "ServerConfig"): PRINTED + " (the archive's default name)",
    ("station/output/signing.py", "Signer"): PRINTED,
    ("station/output/keys.py", "DEMO_LABEL"): PRINTED + " (the demo certificate's name)",
    ("station/processing/separators.py", "render_sheet"): PRINTED,
    ("server/cli.py", "register"): "CLI help naming the decree's purpose codes by their official words",
    ("server/catalogue/catalog.py", "fold"): "folding đ/Đ for search",
    ("server/workorders/inventory.py", "fold"): "folding đ/Đ for header matching",
    ("server/workorders/inventory.py", "COLUMNS"): READ,
    ("server/workorders/inventory.py", "LABELS_VI"): READ + " (the template's header row)",
    ("server/workorders/inventory.py", "TRUE_WORDS"): READ,
    ("server/workorders/inventory.py", "FALSE_WORDS"): READ,
    ("station/web/suggest.py", "_DATE"): READ,
    ("station/web/suggest.py", "_NUMBER"): READ,
    ("station/web/suggest.py", "_SUBJECT"): READ,
    **{("sohoa/samplepages.py", name): SAMPLE
       for name in ("AGENCIES", "DOC_TYPES", "GIVEN", "MIDDLE", "MOTTO", "NATION", "SENTENCES", "SUBJECTS",
                    "SURNAMES", "_render_clean")},
    **{("sohoa/demo.py", name): SAMPLE
       for name in ("AGENCY_NAME", "digitise_one_file", "seed_server", "start_station")},
}


def stray_vietnamese(source: str, path: str) -> list[tuple[str, int, str]]:
    """(top-level name, line, text) of every literal the rule above finds in `source`."""
    tree = ast.parse(source)
    exempt: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                exempt.add(id(first.value))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in MARKERS:
            exempt.update(id(a) for a in node.args)
    found = []
    for top in tree.body:
        if isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            scope = top.name
        elif isinstance(top, ast.Assign) and isinstance(top.targets[0], ast.Name):
            scope = top.targets[0].id
        elif isinstance(top, ast.AnnAssign) and isinstance(top.target, ast.Name):
            scope = top.target.id
        else:
            scope = "<module>"
        if (path, scope) in ALLOWED:
            continue
        for node in ast.walk(top):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in exempt
                    and VIETNAMESE.search(TERMS.sub("", node.value))):
                found.append((scope, node.lineno, node.value))
    return found


def _python_files() -> list[Path]:
    return sorted(p for part in PARTS for p in (ROOT / part).rglob("*.py"))


def test_the_rule_catches_a_vietnamese_message_and_passes_a_message_by_key():
    """Positive control: the same probe the code is walked with finds the old way and passes the new one."""
    old = 'raise Conflict("batch sealed", "Hồ sơ đã đóng gói, không sửa được.")\n'
    assert [(s, t) for s, _, t in stray_vietnamese(old, "station/x.py")] == [
        ("<module>", "Hồ sơ đã đóng gói, không sửa được.")]
    flag = 'FLAGS = {"blurry": {"message": "Text looks blurred", "message_vi": "Chữ bị mờ"}}\n'
    assert [s for s, _, _ in stray_vietnamese(flag, "station/x.py")] == ["FLAGS"]
    new = ('def f():\n    """Tài liệu: a docstring may say anything."""\n'
           '    raise Conflict(N_("pages of this hồ sơ are sealed"))\n'
           'log.info("sent hồ sơ %s", code)\n')
    assert stray_vietnamese(new, "station/x.py") == []
    table = 'TYPE_NAME = {"01": "Nghị quyết"}\n'
    assert stray_vietnamese(table, "protocol/metadata.py") == []  # listed: the standard's words
    assert stray_vietnamese(table, "protocol/other.py") != []  # the same table anywhere else is caught


def test_no_vietnamese_ui_text_outside_the_catalogue():
    found = [f"{path.relative_to(ROOT)}:{line} ({scope}): {text[:80]!r}"
             for path in _python_files()
             for scope, line, text in stray_vietnamese(path.read_text(encoding="utf-8"),
                                                       str(path.relative_to(ROOT)))]
    assert not found, "Vietnamese UI text outside the catalogue (mark an English msgid with N_() and put " \
                      "the Vietnamese in protocol/translations):\n" + "\n".join(found)


def test_every_allowance_is_still_needed():
    """An entry of ALLOWED whose name no longer holds Vietnamese is removed, so the list stays the truth."""
    used: set[tuple[str, str]] = set()
    for path in _python_files():
        rel = str(path.relative_to(ROOT))
        if not any(p == rel for p, _ in ALLOWED):
            continue
        for top in ast.parse(path.read_text(encoding="utf-8")).body:
            name = getattr(top, "name", None) or next(
                (t.id for t in getattr(top, "targets", [getattr(top, "target", None)]) if isinstance(t, ast.Name)),
                None)
            if (rel, name) in ALLOWED and any(
                    isinstance(n, ast.Constant) and isinstance(n.value, str) and VIETNAMESE.search(n.value)
                    for n in ast.walk(top)):
                used.add((rel, name))
    assert set(ALLOWED) - used == set()


def _python_msgids() -> set[str]:
    """Every msgid marked in the Python code of the four parts (what pybabel extract -k N_ finds there)."""
    keywords = {"N_": None, "_": None, "gettext": None, "lazy_gettext": None}
    out = set()
    for path in _python_files():
        for _, message, _, _ in extract_from_file("python", str(path), keywords=keywords):
            if isinstance(message, str) and message:
                out.add(message)
    return out


def test_every_message_of_the_code_has_its_vietnamese():
    """The catalogue is current with the Python code: no message shows English (or the class's general
    message) on a Vietnamese screen. Regenerate with pybabel extract/update/compile (docs/architecture.md)."""
    assert not translated("a message nobody translated", "vi")  # the probe sees a missing one
    assert translated("Document %(n)s: a required field is missing.", "vi")
    missing = sorted(m for m in _python_msgids() if not translated(m, "vi"))
    assert not missing, "messages without a Vietnamese translation:\n" + "\n".join(missing)


def test_a_message_travels_by_key_and_is_shown_in_each_language():
    said = say(N_("Content touches the %(sides)s edge: it may be cut off"),
               sides=Joined([say(N_("top")), say(N_("left"))], ", "))
    stored = said.as_dict()  # what a page's flags keep in the database, and what MQTT carries
    assert stored["message"] == "Content touches the top, left edge: it may be cut off"
    back = Message.from_dict(stored)
    assert back.text("vi") == "Nội dung chạm mép trên, trái: có thể bị mất một phần"
    assert back.text("en") == stored["message"]
    shown = with_texts({"flags": [{"code": "edge_content", **stored}]}, "vi")
    assert shown["flags"][0]["text"] == back.text("vi")
    receipt = {"checks": [{"name": "csip", **stored}], "signature": "c2lnbmVk"}
    assert with_texts({"receipt": receipt}, "vi") == {"receipt": receipt}  # signed: sent exactly as signed
    everyone = with_texts({"last_fault": stored}, None)["last_fault"]["texts"]
    assert everyone == {"vi": back.text("vi"), "en": stored["message"]}
    label = say(N_("%(label)s: required"), label=Label({"en": "Title", "vi": "Tiêu đề"}))
    assert Message.from_dict(label.as_dict()).text("vi") == "Tiêu đề: bắt buộc nhập"


def test_an_untranslated_message_never_shows_english_on_a_vietnamese_screen():
    exc = NotFound(f"no batch {7}")  # built at run time: not a msgid of the catalogue
    assert exc.message == "no batch 7" and exc.text("en") == "no batch 7"
    assert exc.text("vi") == translate(NotFound.default, "vi") == "Không tìm thấy."
    assert UserError().text("vi") == "Yêu cầu không hợp lệ."
