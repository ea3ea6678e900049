"""The README keeps its promises: the two commands exist and every CLI command is covered."""

from __future__ import annotations

import re
from pathlib import Path

from studio.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_starts_with_the_two_commands_and_they_exist():
    block = re.search(r"## The two commands.*?```bash\n(.*?)```", README, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["bash scripts/dashboard.sh", "bash scripts/test.sh"]
    for command in commands:
        assert (ROOT / command.split()[1]).is_file()
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def _subcommands(parser, prefix=()):
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            for name, sub in action.choices.items():
                yield (*prefix, name)
                yield from _subcommands(sub, (*prefix, name))


def test_every_cli_command_is_in_the_readme():
    for command in _subcommands(build_parser()):
        assert f"python -m studio {' '.join(command)}" in README, command


def test_every_animate_option_is_in_the_readme():
    parser = build_parser()
    animate = next(
        a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"
    ).choices["animate"]
    for action in animate._actions:
        for flag in action.option_strings:
            if flag.startswith("--") and flag != "--help":
                assert f"`{flag}" in README or f" {flag} " in README, flag
