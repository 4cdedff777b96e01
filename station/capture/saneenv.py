"""A SANE configuration the project owns, so tests and the demo never need to edit /etc/sane.d.

SANE reads `SANE_CONFIG_DIR` once, in `sane.init()`: call `prepare_sane_config` before that.
Listing only the backends we want also keeps discovery fast (network backends are not probed).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

SYSTEM_DIR = Path("/etc/sane.d")

#: The test backend stops at 200 mm unless told otherwise; 300 mm fits A4 (210 x 297) with room to spare.
TEST_GEOMETRY_MAX = 300.0


def _test_conf(source: Path) -> str:
    text = source.read_text() if source.exists() else ""
    if not text:
        raise FileNotFoundError(f"{source} is missing: install sane-backends (the 'test' backend's config)")
    line = f"geometry_max {TEST_GEOMETRY_MAX:.1f}"
    if re.search(r"^geometry_max\b.*$", text, flags=re.M):
        return re.sub(r"^geometry_max\b.*$", line, text, flags=re.M)
    return text.rstrip("\n") + "\n" + line + "\n"


def prepare_sane_config(config_dir: Path, *, backends: tuple[str, ...] | list[str] = ("test",)) -> Path:
    """Write `dll.conf` (+ a copy of each backend's own .conf) into `config_dir`; set SANE_CONFIG_DIR.

    Returns the directory. Never writes outside `config_dir`.
    """
    config_dir = Path(config_dir)
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "dll.conf").write_text("".join(f"{name}\n" for name in backends))
    for name in backends:
        target = config_dir / f"{name}.conf"
        if name == "test":
            target.write_text(_test_conf(SYSTEM_DIR / "test.conf"))
        elif (SYSTEM_DIR / f"{name}.conf").exists():
            target.write_text((SYSTEM_DIR / f"{name}.conf").read_text())
    os.environ["SANE_CONFIG_DIR"] = str(config_dir)
    return config_dir
