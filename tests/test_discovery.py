"""Discovery between two network namespaces joined by a veth pair that this test creates (never on the
host's interfaces): the server advertises `_sohoa._tcp` in one, a station browses from the other.
A configured address always wins; a confirmed server is remembered; fingerprints are checked."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from station.discovery import Candidate, ServerChoice, confirm, find_server, load_confirmed, verify

ROOT = Path(__file__).resolve().parents[1]
NS_A, NS_B = f"sohoa-a-{os.getpid()}", f"sohoa-b-{os.getpid()}"
VETH_A, VETH_B = f"sva{os.getpid() % 100000}", f"svb{os.getpid() % 100000}"
IP_A, IP_B = "10.213.7.1", "10.213.7.2"

ADVERTISE = """
import sys, time
from server.accounts.discovery import Advertisement, Advertiser
ad = Advertisement(name="Lưu trữ tỉnh Đồng Nai", api_url="http://{ip}:8443", api_port=8443, addresses=("{ip}",),
                   fingerprint="sha256:" + "ab" * 32, broker_host="{ip}", broker_port=1883)
with Advertiser(ad, interfaces=["{ip}"]):
    print("registered", flush=True)
    sys.stdin.read()
"""
BROWSE = """
import json
from station.discovery import find_server
choice = find_server(configured_url="{configured}", data_dir="{data}", timeout=4.0, interfaces=["{ip}"])
print(json.dumps({{"source": choice.source, "url": choice.api_url,
                  "candidates": [c.to_dict() for c in choice.candidates]}}, ensure_ascii=False))
"""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def namespaces():
    assert shutil.which("ip"), "iproute2 (`ip`) is needed to create the test's network namespaces"
    assert os.geteuid() == 0, "creating network namespaces needs root"
    try:
        _ip("netns", "add", NS_A)
        _ip("netns", "add", NS_B)
        _ip("link", "add", VETH_A, "type", "veth", "peer", "name", VETH_B)
        _ip("link", "set", VETH_A, "netns", NS_A)
        _ip("link", "set", VETH_B, "netns", NS_B)
        for ns, dev, ip in ((NS_A, VETH_A, IP_A), (NS_B, VETH_B, IP_B)):
            _ip("-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "link", "set", dev, "up", "multicast", "on")
            _ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", dev)
        yield
    finally:
        for ns in (NS_A, NS_B):  # deleting a namespace deletes its end of the veth pair, then the other
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


def _in_ns(ns: str, code: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", code], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_station_finds_the_server_across_a_veth_pair(namespaces, tmp_path: Path):
    server = _in_ns(NS_A, ADVERTISE.format(ip=IP_A), stdin=subprocess.PIPE)
    try:
        line = server.stdout.readline()
        assert line.strip() == "registered", server.stderr.read() if server.poll() is not None else line
        t0 = time.monotonic()
        browse = _in_ns(NS_B, BROWSE.format(configured="", data=tmp_path, ip=IP_B))
        out, err = browse.communicate(timeout=30)
        assert browse.returncode == 0, err
        result = json.loads(out)
        assert result["source"] == "discovered"
        [found] = result["candidates"]
        assert found["name"] == "Lưu trữ tỉnh Đồng Nai"
        assert found["api_url"] == f"http://{IP_A}:8443"
        assert (found["broker_host"], found["broker_port"]) == (IP_A, 1883)
        assert found["fingerprint"] == "sha256:" + "ab" * 32
        assert found["addresses"] == [IP_A]
        assert time.monotonic() - t0 < 15

        # A configured address wins: nothing is browsed, even with a server on the link.
        browse = _in_ns(NS_B, BROWSE.format(configured="https://archive.example:8443", data=tmp_path, ip=IP_B))
        out, err = browse.communicate(timeout=30)
        result = json.loads(out)
        assert result == {"source": "configured", "url": "https://archive.example:8443", "candidates": []}
    finally:
        server.stdin.close()
        server.wait(timeout=15)


def test_nothing_advertised_means_no_candidates(namespaces, tmp_path: Path):
    browse = _in_ns(NS_B, BROWSE.format(configured="", data=tmp_path, ip=IP_B))
    out, err = browse.communicate(timeout=30)
    assert browse.returncode == 0, err
    assert json.loads(out)["source"] == "none"


def test_confirmed_server_is_remembered_and_configured_still_wins(tmp_path: Path):
    cand = Candidate(name="Lưu trữ", api_url="http://10.0.0.5:8443", fingerprint="sha256:00", addresses=("10.0.0.5",))
    confirm(tmp_path, cand)
    assert load_confirmed(tmp_path) == cand
    choice = find_server(configured_url="", data_dir=tmp_path)
    assert (choice.source, choice.api_url, choice.needs_confirmation) == ("confirmed", cand.api_url, False)
    choice = find_server(configured_url="http://configured:8080", data_dir=tmp_path)
    assert choice == ServerChoice("configured", "http://configured:8080")


def test_verify_compares_the_advertised_fingerprint_with_the_served_key(archive_server):
    from server.accounts.discovery import key_fingerprint

    live, context = archive_server
    right = key_fingerprint(context.public_key_pem)
    assert verify(Candidate(name="x", api_url=live.url, fingerprint=right))
    assert not verify(Candidate(name="x", api_url=live.url, fingerprint="sha256:" + "00" * 32))
    assert not verify(Candidate(name="x", api_url="http://127.0.0.1:9", fingerprint=right), timeout=2)


def test_advertiser_for_takes_port_broker_and_fingerprint_from_the_context(archive_server):
    from server.accounts.discovery import advertiser_for, key_fingerprint

    _, context = archive_server
    context.config.broker_host, context.config.broker_port = "10.1.1.1", 8883
    adv = advertiser_for(context, name="Lưu trữ", api_url="https://10.1.1.1:8443", addresses=["10.1.1.1"])
    info = adv.ad.service_info()
    assert info.port == 8443 and info.properties[b"broker_port"] == b"8883"
    assert info.properties[b"fp"].decode() == key_fingerprint(context.public_key_pem)
