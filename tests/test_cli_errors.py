"""Exceptions become exit codes in one place (sohoa.cli.main, protocol.errors.ExitCode): a UserError is one
line on stderr and its exit code, a configuration error exit 78, anything else a bug: exit 70 with an
incident id on stderr and the traceback under that id in the log."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import types

import pytest

from protocol.errors import ExitCode, NotFound


def _sohoa(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sohoa.cli", *args], capture_output=True, text=True, timeout=120)


def test_a_refused_command_is_one_line_and_exit_2(tmp_path):
    done = _sohoa("package", "verify", "--only", "nosuch", str(tmp_path))
    assert done.returncode == ExitCode.USAGE == 2, done.stderr
    assert done.stderr.strip() == "sohoa: error: unknown checks ['nosuch']"


def test_a_configuration_error_is_exit_78(tmp_path):
    missing = tmp_path / "station.toml"
    done = _sohoa("station", "--config", str(missing))
    assert done.returncode == ExitCode.CONFIG == 78, done.stderr
    assert done.stderr.strip() == f"sohoa: configuration error: {missing}: file does not exist"


@pytest.fixture
def probe_commands(monkeypatch):
    """Two commands on the real parser: one fails as a bug does (a KeyError from a typo), one refuses."""
    module = types.ModuleType("probe_commands")

    def register(subparsers) -> None:
        subparsers.add_parser("probe-bug").set_defaults(func=lambda args: {}["batch_idd"])

        def refuse(args) -> int:
            raise NotFound("no batch 7")

        subparsers.add_parser("probe-refused").set_defaults(func=refuse)

    module.register = register
    monkeypatch.setitem(sys.modules, "probe_commands", module)
    import sohoa.cli

    monkeypatch.setattr(sohoa.cli, "COMMAND_MODULES", [*sohoa.cli.COMMAND_MODULES, "probe_commands"])
    return sohoa.cli


def test_a_bug_is_exit_70_with_an_incident_in_the_log(probe_commands, caplog, capsys):
    assert probe_commands.main(["probe-refused"]) == ExitCode.USAGE  # the probe sees a user error as one
    assert capsys.readouterr().err.strip() == "sohoa: error: no batch 7"
    with caplog.at_level(logging.ERROR, logger="sohoa"):
        assert probe_commands.main(["probe-bug"]) == ExitCode.SOFTWARE == 70
    err = capsys.readouterr().err
    incident = re.fullmatch(r"sohoa: internal error \(incident ([0-9a-f]{8})\); see the log\n", err).group(1)
    [record] = [r for r in caplog.records if incident in r.getMessage()]
    assert record.exc_info[0] is KeyError and "batch_idd" not in err


def test_a_refused_command_speaks_english(tmp_path):
    """The command line speaks English (logs, technicians): a message the catalogue also has in Vietnamese
    prints its English msgid, never the Vietnamese text."""
    from protocol.i18n import translate

    done = _sohoa("station-enroll", "--server", "ftp://archive.example", "--code", "x", "--data", str(tmp_path))
    english = "server URL must start with http:// or https://: 'ftp://archive.example'"
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert done.stderr.strip() == f"sohoa: error: {english}"
    vietnamese = translate("server URL must start with http:// or https://: '%(server_url)s'", "vi",
                           server_url="ftp://archive.example")
    assert vietnamese != english and vietnamese not in done.stderr  # the catalogue has it: the CLI chose English
