"""Every `sohoa` subcommand is documented in the README (a command nobody can find does not exist)."""

from pathlib import Path

from sohoa.cli import build_parser

README = Path(__file__).resolve().parent.parent / "README.md"


def test_every_command_is_in_the_readme():
    parser = build_parser()
    [sub] = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    text = README.read_text(encoding="utf-8")
    missing = [name for name in sub.choices if f"sohoa {name}" not in text]
    assert not missing, f"document these commands in README.md: {missing}"
    assert len(sub.choices) >= 15
