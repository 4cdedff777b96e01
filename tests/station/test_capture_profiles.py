"""Scanner profiles: every shipped file loads, picks by backend, and bad names fail loudly."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from station.capture.profiles import PROFILE_DIR, ProfileError, all_profiles, load_profile, profile_for
from station.capture.sane_source import SaneSource
from station.capture.source import CaptureRefused, ScanRequest


def test_shipped_profiles_load_and_cover_the_families() -> None:
    profiles = {p.family: p for p in all_profiles()}
    assert {"test", "fujitsu", "canon_dr", "epsonds", "escl", "generic"} <= set(profiles)
    for profile in profiles.values():
        assert set(profile.sources) == {"flatbed", "adf", "adf_duplex"}, profile.family
        assert profile.modes["color"], profile.family
    assert profiles["fujitsu"].sources["adf_duplex"] == ["ADF Duplex"]
    assert profiles["escl"].sources["adf"][0] == "ADF"


@pytest.mark.parametrize(("device", "family"), [
    ("test:0", "test"), ("fujitsu:libusb:001:004", "fujitsu"), ("canon_dr:libusb:002:003", "canon_dr"),
    ("epsonds:libusb:001:005", "epsonds"), ("airscan:e0:HP LaserJet", "escl"),
    ("escl:https://192.0.2.7:443", "escl"), ("pixma:04A91912", "generic"),
])
def test_profile_chosen_by_backend(device: str, family: str) -> None:
    assert profile_for(device).family == family


@pytest.mark.parametrize(("change", "match"), [
    ({"resoluton": 1}, "unknown keys"),
    ({"options": {"mode": "mode", "resolution": "resolution", "colour": "x"}}, "unknown logical options"),
    ({"options": {"mode": "mode"}}, "'resolution' is not mapped"),
    ({"modes": {"gray": "Gray"}}, "colour mode"),
    ({"sources": {"feeder": "ADF"}}, "unknown sources"),
    ({"duplex": "sideways"}, "duplex"),
])
def test_bad_profile_files_fail_at_load(tmp_path: Path, change: dict, match: str) -> None:
    data = json.loads((PROFILE_DIR / "test.json").read_text())
    data.update(change)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ProfileError, match=match) as caught:
        load_profile(path)
    assert "profile" in caught.value.text("vi")


def test_test_profile_binds_to_the_device(sane_test_device: str) -> None:
    described = SaneSource(sane_test_device).describe()
    assert described["profile"] == "test"
    assert described["mapped"]["br_y"] == "br_y"
    assert "Automatic Document Feeder" in described["options"]["source"]


def test_profile_option_missing_on_device_fails_at_bind(sane_test_device: str, tmp_path: Path) -> None:
    data = json.loads((PROFILE_DIR / "test.json").read_text())
    data["fixed"]["test-pictur"] = "Grid"
    path = tmp_path / "typo.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ProfileError, match="test-pictur"):
        SaneSource(sane_test_device, profile=path).describe()


def test_wrong_family_value_is_refused_clearly(sane_test_device: str) -> None:
    # The fujitsu profile's names exist on the test device, but its feeder value "ADF Front" does not.
    source = SaneSource(sane_test_device, profile=profile_for("fujitsu:x"))
    with pytest.raises(CaptureRefused, match="ADF Front") as caught:
        source.scan(ScanRequest(source="adf"), on_page=lambda c: None, stop=threading.Event())
    assert caught.value.code == "unsupported"
