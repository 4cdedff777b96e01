"""Each screen shows its own words. The server once merged every module's text table into one with setdefault,
so a key two modules defined kept whichever loaded first: the inspector's screen showed the supervisor's "Tỷ lệ
lỗi theo nghiệm thu" over its list of marked defects. Now the words are msgids of the one catalogue: two texts
differ by their English, and when one English word needs two Vietnamese ones (a work order "Accepted" by the
archive vs a hồ sơ that passed acceptance) a msgctxt keeps them apart. These tests hold that, through the same
functions the pages call."""

from __future__ import annotations

from protocol.i18n import catalogue, translate
from server.labels import LABELS, label_in


def test_the_inspector_and_the_supervisor_each_see_their_words():
    assert translate("Defects marked", "vi") == "Lỗi đã ghi"
    assert translate("No defect marked.", "vi") == "Chưa ghi lỗi nào."
    assert translate("Defect rate from acceptance", "vi") == "Tỷ lệ lỗi theo nghiệm thu"


def test_one_english_word_with_two_meanings_keeps_both_vietnamese_words():
    assert label_in("stage", "accepted", "vi") == "Đã tiếp nhận"  # the work order: the archive took the package
    assert label_in("state", "accepted", "vi") == "Đạt nghiệm thu"  # the hồ sơ: it passed acceptance
    assert label_in("stage", "accepted", "en") == label_in("state", "accepted", "en") == "Accepted"
    assert label_in("audit_action", "search", "vi") == "Tìm kiếm"
    assert catalogue("vi").pgettext("search", "Search") == "Tra cứu"  # the menu entry, the same English


def test_every_enumerated_value_is_translated():
    """A value added to LABELS without its Vietnamese word would show English in the vi UI."""
    english = {(kind, value): label_in(kind, value, "vi") for kind, values in LABELS.items() for value in values
               if label_in(kind, value, "vi") == label_in(kind, value, "en")}
    # positive control: the probe does see an untranslated value
    assert label_in("stage", "no-such-stage", "vi") == label_in("stage", "no-such-stage", "en")
    assert english == {}, f"values shown in English in the vi UI: {english}"
