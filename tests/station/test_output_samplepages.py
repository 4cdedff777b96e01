"""The page generator: deterministic, real Vietnamese text, metadata that matches the page."""

from __future__ import annotations

import unicodedata

from PIL import Image

from sohoa.samplepages import (
    MOTTO,
    NATION,
    char_error_rate,
    render_page,
    sample_metadata,
    word_error_rate,
    write_sample_folder,
)


def test_same_seed_same_page_and_text():
    a_img, a_text = render_page(seed=11, dpi=100)
    b_img, b_text = render_page(seed=11, dpi=100)
    assert a_text == b_text
    assert a_img.tobytes() == b_img.tobytes()
    c_img, c_text = render_page(seed=12, dpi=100)
    assert c_text != a_text


def test_text_is_nfc_vietnamese_with_header_and_diacritics():
    image, text = render_page(seed=5, dpi=100)
    assert image.mode == "RGB"
    assert image.size == (827, 1169)  # A4 at 100 dpi
    assert unicodedata.is_normalized("NFC", text)
    assert NATION in text and MOTTO in text
    assert sum(ch in text for ch in "ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ") >= 15
    assert "ngày" in text and "tháng" in text and "năm" in text


def test_metadata_matches_what_is_drawn():
    for seed in range(6):
        meta = sample_metadata(seed)
        _, text = render_page(seed=seed, dpi=72)
        assert f"Số: {meta['code_number']}/{meta['code_notation']}" in text
        day, month, year = meta["issued_date"].split("/")
        assert f"ngày {day} tháng {int(month)} năm {year}" in text
        assert meta["subject"] in text and meta["organ_name"] in text
        assert meta["type_name"] in {"02", "07", "10", "14", "15"}


def test_folder_pngs_carry_dpi_and_sorted_names(tmp_path):
    paths = write_sample_folder(tmp_path / "pages", count=3, seed=100, dpi=150, with_text=True)
    assert [p.name for p in paths] == ["page-0001.png", "page-0002.png", "page-0003.png"]
    for path in paths:
        with Image.open(path) as image:
            assert round(image.info["dpi"][0]) == 150 and image.size == (1240, 1754)
        assert path.with_suffix(".txt").read_text(encoding="utf-8").startswith(render_page(
            seed=100 + paths.index(path), dpi=72)[1].splitlines()[0])


def test_degradations_change_the_page():
    clean, _ = render_page(seed=3, dpi=72)
    turned, _ = render_page(seed=3, dpi=72, rotate=90)
    assert turned.size == (clean.size[1], clean.size[0])
    yellow, _ = render_page(seed=3, dpi=72, yellow=True)
    r, g, b = yellow.getpixel((5, 5))
    assert r > b + 30  # aged paper
    skewed, _ = render_page(seed=3, dpi=72, skew_deg=3.0)
    assert skewed.size == clean.size and skewed.tobytes() != clean.tobytes()
    noisy, _ = render_page(seed=3, dpi=72, noise=0.05)
    assert noisy.tobytes() != clean.tobytes()


def test_error_rates():
    assert char_error_rate("Hà Nội", "Hà Nội") == 0
    assert char_error_rate("Hà Nội", "Ha Nội") == 1 / 6  # a lost diacritic is an error
    assert word_error_rate("một hai ba", "một hai") == 1 / 3
