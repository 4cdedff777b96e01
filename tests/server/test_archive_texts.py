"""The server has one text table (server/i18n.TEXTS) that the archive's and the supervisor's words are
merged into with setdefault, so a key two of them define keeps whichever loaded first: the inspector's screen
showed the supervisor's "Tỷ lệ lỗi theo nghiệm thu" over its list of marked defects. Every key of each text
module must show that module's own words."""

from __future__ import annotations

import pytest

from server import i18n
from server.archive import texts as archive_texts
from server.web import supervisor_texts


@pytest.mark.parametrize("module", [archive_texts, supervisor_texts], ids=["archive", "supervisor"])
def test_each_text_module_shows_its_own_words(module):
    clashes = {k: (v, i18n.TEXTS[k]) for k, v in module.TEXTS.items() if i18n.TEXTS[k] != v}
    assert clashes == {}, f"keys given other words elsewhere (rename one): {clashes}"


def test_the_inspector_sees_its_words_for_marked_defects():
    assert i18n.text("defects_marked", "vi") == "Lỗi đã ghi"
    assert i18n.text("no_defects_marked", "vi") == "Chưa ghi lỗi nào."
