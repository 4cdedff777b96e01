"""scripts/i18n.sh check, which scripts/run-tests.sh runs before pytest: it fails, naming the text, when the
catalogue is out of date with the code (a msgid of the code missing from the vi catalogue, an entry left empty
or fuzzy, a .mo that is not its .po compiled), and passes once extract → update → translate → compile is done.
Run on a small project of its own (the same script and layout), then on this repository."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]


def _run(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(project / "scripts/i18n.sh"), *args], cwd=project, capture_output=True,
                          text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable})


def _translate(po: Path, **words: str) -> None:
    with open(po, "rb") as fh:
        cat = read_po(fh, locale="vi")
    for msgid, text in words.items():
        cat[msgid.replace("_", " ")].string = text
    with open(po, "wb") as fh:
        write_po(fh, cat, width=76, no_location=True)


def test_check_names_what_is_out_of_date(tmp_path):
    project = tmp_path / "p"
    (project / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts/i18n.sh", project / "scripts/i18n.sh")
    shutil.copy(ROOT / "babel.cfg", project / "babel.cfg")
    (project / "protocol/translations/vi/LC_MESSAGES").mkdir(parents=True)
    code = project / "protocol/mod.py"
    code.write_text('from flask_babel import gettext as _\n\nSAVE = _("Save")\n', encoding="utf-8")
    po = project / "protocol/translations/vi/LC_MESSAGES/messages.po"
    po.write_bytes(b'msgid ""\nmsgstr ""\n"Language: vi\\n"\n"Content-Type: text/plain; charset=utf-8\\n"\n')
    for step in ("extract", "update"):
        assert _run(project, step).returncode == 0
    _translate(po, Save="Lưu")
    assert _run(project, "compile").returncode == 0
    ok = _run(project, "check")
    assert ok.returncode == 0, ok.stderr
    assert "1 msgids, catalogue up to date" in ok.stdout

    code.write_text(code.read_text() + 'CANCEL = _("Cancel")\n', encoding="utf-8")  # a new text in the code
    missing = _run(project, "check")
    assert missing.returncode != 0 and "vi: not in the catalogue (run extract, update): 'Cancel'" in missing.stderr

    assert _run(project, "extract").returncode == 0 and _run(project, "update").returncode == 0
    empty = _run(project, "check")
    assert empty.returncode != 0 and "vi: untranslated: 'Cancel'" in empty.stderr

    _translate(po, Cancel="Hủy")  # translated, not compiled: the apps would still show English
    stale = _run(project, "check")
    assert stale.returncode != 0 and "messages.mo is not" in stale.stderr and "'Cancel'" not in stale.stderr

    assert _run(project, "compile").returncode == 0
    again = _run(project, "check")
    assert again.returncode == 0, again.stderr

    with open(po, "rb") as fh:
        cat = read_po(fh, locale="vi")
    cat["Cancel"].flags.add("fuzzy")
    with open(po, "wb") as fh:
        write_po(fh, cat, width=76, no_location=True)
    fuzzy = _run(project, "check")
    assert fuzzy.returncode != 0 and "vi: fuzzy: 'Cancel'" in fuzzy.stderr


def test_this_repositorys_catalogue_is_up_to_date():
    done = _run(ROOT, "check")
    assert done.returncode == 0, done.stderr
