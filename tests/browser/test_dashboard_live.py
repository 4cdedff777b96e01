"""The supervisor dashboard in Debian's headless Chromium: log in, see a station come online (a real
Telemetry publisher in its own process, through a real mosquitto with the project's config), see its page
count rise while it publishes progress, and see it go offline when its process is killed -9 (last will)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "server"))
from test_dashboard_support import Floor, floor  # noqa: E402,F401 - fixture

from tests.support.web import SUPERVISOR  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
STATION = """
import sys, time
from station.telemetry import Telemetry
tel = Telemetry("st-a", host="127.0.0.1", port={port}, username="st-a", password="{password}")
tel.start()
tel.set_state(operator="le.van.quet", batch="b-42", batch_state="OPEN", fonds="G09",
              file_code="000.00.00.H47.2001.160.VP", scanner="scanning")
pages = 0
while True:
    pages += 3
    tel.progress(pages_captured=pages, pages_per_minute=36.0, queue_ocr=2)
    time.sleep(0.25)  # a scanning station's pace of progress messages
"""


@pytest.mark.browser
def test_station_online_pages_rise_then_offline_when_killed(floor: Floor):  # noqa: F811 - fixture
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: apt-get install chromium"
    code = STATION.format(port=floor.broker.port, password=floor.secrets["st-a"]["mqtt_password"])
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        station = None
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(floor.url + "/")
            page.fill("input[name=username]", SUPERVISOR[0])
            page.fill("input[name=password]", SUPERVISOR[1])
            page.click("form#login button[type=submit]")
            page.wait_for_url(floor.url + "/")
            expect(page.locator("#live")).to_contain_text("Trực tiếp", timeout=10_000)
            tile = page.locator('.tile[data-station="st-a"]')
            expect(tile).to_have_attribute("data-status", "unknown")

            station = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT,
                                       env={**os.environ, "PYTHONPATH": str(ROOT)})
            expect(tile).to_have_attribute("data-status", "online", timeout=10_000)
            expect(tile.locator(".operator")).to_have_text("le.van.quet")
            expect(tile.locator(".scanner")).to_have_text("đang quét")
            expect(tile.locator(".pages")).not_to_have_text("0", timeout=10_000)
            first = int(tile.locator(".pages").inner_text())
            page.wait_for_function(
                f"() => +document.querySelector('.tile[data-station=\"st-a\"] .pages').textContent >= {first + 9}",
                timeout=10_000)
            assert page.evaluate("window.sohoaDashboard.received") > 3  # pushed, not reloaded
            SHOTS = ROOT / "docs" / "screenshots"
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "dashboard-1280.png"), full_page=True)

            station.send_signal(signal.SIGKILL)
            station.wait(timeout=10)
            expect(tile).to_have_attribute("data-status", "offline", timeout=10_000)
            expect(tile.locator(".status")).to_have_text("Mất kết nối")
            # still the same page: the update came over server-sent events
            assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
        finally:
            if station is not None and station.poll() is None:
                station.kill()
                station.wait(timeout=10)
            browser.close()
