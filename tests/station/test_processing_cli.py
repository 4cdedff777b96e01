"""`sohoa process`: derivatives and a JSON report per page; clear errors and exit codes."""

from __future__ import annotations

import json

from test_processing_pagegen import render_page, save_png

from sohoa.cli import main


def test_sohoa_process_writes_derivatives_and_reports(tmp_path, capsys):
    text, _ = render_page(seed=91, dpi=150, skew_deg=-1.0, lines=10)
    blank, _ = render_page(seed=92, dpi=150, blank=True, yellow=True)
    a, b = save_png(text, tmp_path / "a.png", dpi=150), save_png(blank, tmp_path / "b.png", dpi=150)
    cfg = tmp_path / "p.toml"
    cfg.write_text("min_dpi = 100\ndetect_orientation = false\n")
    out = tmp_path / "out"
    assert main(["process", str(a), str(b), "--out", str(out), "--config", str(cfg)]) == 0
    report = json.loads((out / "a.json").read_text(encoding="utf-8"))
    assert abs(report["angle"] + 1.0) < 0.15 and report["blank"] is False and report["metrics"]["dpi"] == 150
    assert (out / "a.jpg").exists() and json.loads((out / "b.json").read_text())["blank"] is True
    assert "b.png: angle" in capsys.readouterr().out


def test_sohoa_process_errors(tmp_path, capsys):
    assert main(["process", str(tmp_path / "missing.png"), "--out", str(tmp_path / "o")]) == 2
    assert "no such image" in capsys.readouterr().err
    cfg = tmp_path / "bad.toml"
    cfg.write_text("no_such_setting = 1\n")
    img = save_png(render_page(seed=93, dpi=100, lines=2)[0], tmp_path / "x.png", dpi=100)
    assert main(["process", str(img), "--out", str(tmp_path / "o"), "--config", str(cfg)]) == 2
    assert "no_such_setting" in capsys.readouterr().err
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    assert main(["process", str(bad), "--out", str(tmp_path / "o")]) == 1
