"""The README and docs/ keep their promises.

- README.md opens with the two commands, and they exist; it stays a newcomer's page (at most
  20,000 characters) that names every dashboard page and says how long the tests take.
- Every relative link in README.md and docs/*.md reaches a file, and every ``#anchor`` a
  heading (GitHub's slugs).
- Every ``.venv/bin/python -m studio ...`` example in a code block parses with the real CLI
  parser, and its prompts, when it renders with the default model, are captions that
  ``builtin:shapes`` was trained on; so are the schedules shown as examples.
- docs/cli.md documents every CLI command, with an example and each of its options.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import io
import re
import shlex
from pathlib import Path

import pytest

from studio.app.cli import build_parser
from studio.errors import StudioError
from studio.languages.schedule import parse_schedule
from training.shapes.dataset import parse_caption

ROOT = Path(__file__).resolve().parents[2]
README_PATH = ROOT / "README.md"
README = README_PATH.read_text()
DOCS = sorted((ROOT / "docs").glob("*.md"))
CLI_DOC = ROOT / "docs" / "cli.md"
MARKDOWN = [README_PATH, *DOCS]
PREFIX = [".venv/bin/python", "-m", "studio"]
MAX_README_CHARS = 20_000


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# -- markdown helpers ----------------------------------------------------------------------------

_FENCE = re.compile(r"^(```|~~~)\s*([\w+-]*)[^\n]*\n(.*?)^\1\s*$", re.S | re.M)


def code_blocks(text: str) -> list[tuple[str, str]]:
    """``(info, body)`` of every fenced code block."""
    return [(m.group(2), m.group(3)) for m in _FENCE.finditer(text)]


def prose(text: str) -> str:
    """``text`` without fenced code blocks and inline code spans."""
    text = _FENCE.sub("", text)
    return re.sub(r"(`+)(?:(?!\1).)+?\1", "", text, flags=re.S)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lowercase, punctuation dropped (word
    characters, hyphens and spaces stay), spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links: their text
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading's anchor in a markdown text, with GitHub's -1, -2 for repeats."""
    seen: dict[str, int] = {}
    found = set()
    for m in re.finditer(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", _FENCE.sub("", text), re.M):
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return found


_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def links(text: str) -> list[str]:
    """Targets of the inline links and images in ``text`` (code left out)."""
    return _LINK.findall(prose(text))


def broken_links(path: Path, text: str) -> list[str]:
    """The relative links of ``text`` (a file at ``path``) that reach no file or heading."""
    broken = []
    for target in links(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest.read_text()):
            broken.append(f"{target} (no heading #{anchor} in {dest.name})")
    return broken


# -- shell helpers -------------------------------------------------------------------------------

_ANSI_C = re.compile(r"\$'((?:[^'\\]|\\.)*)'")
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"'}


def _ansi_c(match: re.Match) -> str:
    """bash's ``$'...'`` as a plain single-quoted word with its escapes decoded."""
    body = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), match.group(1))
    return shlex.quote(body)


def bash_words(line: str) -> list[str]:
    """The words bash makes of one command line (quotes, ``$'...'``, ``#`` comments)."""
    return shlex.split(_ANSI_C.sub(_ansi_c, line), comments=True)


def logical_lines(body: str) -> list[str]:
    """The lines of a shell block, each backslash-continued line joined to the next."""
    joined, current = [], ""
    for line in body.splitlines():
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
        else:
            joined.append(current + line)
            current = ""
    if current:
        joined.append(current)
    return joined


def studio_commands(text: str) -> list[str]:
    """Every ``.venv/bin/python -m studio ...`` line in the code blocks of ``text``."""
    return [
        line.strip()
        for _, body in code_blocks(text)
        for line in logical_lines(body)
        if line.strip().startswith(" ".join(PREFIX))
    ]


def parse_command(line: str):
    """The argparse namespace of a documented command; raises what the real parser raises."""
    words = bash_words(line)
    assert words[:3] == PREFIX, line
    args = words[3:]
    if "--help" in args or "-h" in args:
        with contextlib.redirect_stdout(io.StringIO()), pytest.raises(SystemExit) as ended:
            build_parser().parse_args(args)
        assert ended.value.code == 0, line
        return None
    return build_parser().parse_args(args)


# -- prompts -------------------------------------------------------------------------------------


def plain_prompt(prompt: str) -> str:
    """A prompt without compel's weighting: ``(red)1.2`` and ``blue++`` read as the words."""
    prompt = re.sub(r"\)[\d.]+", ")", prompt)
    prompt = prompt.replace("(", "").replace(")", "")
    return re.sub(r"(\w)[+-]+(?=\s|$)", r"\1", prompt)


def caption_problems(prompts: list[str]) -> list[str]:
    problems = []
    for prompt in prompts:
        try:
            parse_caption(plain_prompt(prompt))
        except ValueError as exc:
            problems.append(str(exc))
    return problems


def schedule_prompts(text: str) -> list[str]:
    schedule = parse_schedule(text)
    prompts = [k.prompt for k in schedule.keyframes]
    prompts += [k.negative for k in schedule.keyframes if k.negative]
    return prompts + ([schedule.negative] if schedule.negative else [])


def command_prompts(args) -> list[str]:
    """The prompts a parsed ``animate`` / ``blend`` draws with ``builtin:shapes`` ([] when it
    names another model)."""
    if args is None or args.command not in ("animate", "blend"):
        return []
    if args.model not in (None, "builtin:shapes"):
        return []
    prompts = [args.negative] if args.negative else []
    if args.command == "blend":
        return prompts + list(args.prompts)
    return prompts + (schedule_prompts(args.prompts) if args.prompts else [])


_SCHEDULE_LINE = re.compile(r"^\s*(\d+\s*(\[[^\]]*\])?\s*:|negative\s*:)")


def is_schedule_block(info: str, body: str) -> bool:
    lines = [x for x in body.splitlines() if x.strip() and not x.lstrip().startswith("#")]
    return info in ("", "text") and bool(lines) and all(_SCHEDULE_LINE.match(x) for x in lines)


# -- the two commands, size and pages ------------------------------------------------------------


def test_readme_starts_with_the_two_commands_and_they_exist():
    block = re.search(r"## The two commands.*?```bash\n(.*?)```", README, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["bash scripts/dashboard.sh", "bash scripts/test.sh"]
    for command in commands:
        assert (ROOT / command.split()[1]).is_file()
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_readme_is_a_short_page():
    assert len(README) <= MAX_README_CHARS, f"README.md has {len(README)} characters"


def _page_titles() -> list[str]:
    app = (ROOT / "streamlit_app.py").read_text()
    return re.findall(r"st\.Page\(\s*\"pages/[^\"]+\",\s*title=\"([^\"]+)\"", app)


def test_readme_names_every_dashboard_page_and_counts_them_right():
    titles = _page_titles()
    assert len(titles) == 6, titles
    for title in titles:
        assert f"**{title}**" in README, title
    numbers = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
    said = re.findall(rf"\b({'|'.join(numbers)}|\d+) pages\b", README, re.I)
    assert said, "the README should say how many pages the dashboard has"
    for word in said:
        assert word.lower() in (numbers[len(titles) - 1], str(len(titles))), word


def test_readme_says_how_long_the_tests_take_and_how_to_run_the_slow_ones():
    assert re.search(
        r"The default test tier takes about \S+ minutes on a quiet 2-core machine", README
    )
    assert "bash scripts/test.sh -m slow" in README


def test_readme_gives_where_data_is_kept():
    from db.paths import DEFAULT_HOME

    assert "STUDIO_HOME" in README and DEFAULT_HOME in README


# -- links ---------------------------------------------------------------------------------------


def test_slugs_follow_github():
    assert slug("What builtin:shapes knows") == "what-builtinshapes-knows"
    assert slug("Video and image input, motion") == "video-and-image-input-motion"
    assert slug("`runs list`") == "runs-list"
    assert slug("What made shapes better (v4 → v5)") == "what-made-shapes-better-v4--v5"
    assert anchors("# A\n## A\n```\n# not a heading\n```\n") == {"a", "a-1"}


def test_broken_links_are_found(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Top\n")
    text = "[ok](page.md#top) [self](#top) [gone](nope.md) [bad](page.md#bottom) `[c](x.md)`"
    assert broken_links(page, text) == [
        "nope.md (no such file)",
        "page.md#bottom (no heading #bottom in page.md)",
    ]


@pytest.mark.parametrize("path", MARKDOWN, ids=_name)
def test_every_relative_link_resolves(path):
    assert broken_links(path, path.read_text()) == []


def test_the_docs_are_linked_from_the_readme():
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in links(README) if ":" not in t}
    assert [_name(p) for p in DOCS if p.resolve() not in linked] == []


# -- example commands ----------------------------------------------------------------------------


def test_bash_words_understand_ansi_c_quoting_and_continuations():
    body = (
        ".venv/bin/python -m studio animate \\\n"
        "    --prompts $'0: a red circle\\n5: a blue circle' --json  # note\n"
    )
    (line,) = logical_lines(body)
    assert bash_words(line)[4:] == ["--prompts", "0: a red circle\n5: a blue circle", "--json"]
    with pytest.raises(StudioError):
        parse_command(".venv/bin/python -m studio animate --no-such-flag")
    assert caption_problems(["a large (blue)1.2 circle", "a blue++ square"]) == []
    assert caption_problems(["a dark night sky"]) != []


@pytest.mark.parametrize("path", MARKDOWN, ids=_name)
def test_example_commands_parse_and_use_prompts_the_model_knows(path):
    text = path.read_text()
    for _, body in code_blocks(text):
        for line in logical_lines(body):
            assert not re.match(r"\s*python3? ", line), (
                f"write examples as .venv/bin/python: {line}"
            )
    for line in studio_commands(text):
        try:
            args = parse_command(line)
        except StudioError as exc:
            pytest.fail(f"{_name(path)}: {line}\n  {exc}")
        assert caption_problems(command_prompts(args)) == [], line


def test_readme_shows_the_commands_a_newcomer_needs_first():
    shown = set()
    for line in studio_commands(README):
        args = parse_command(line)
        if args is not None:
            sub = getattr(args, f"{args.command.replace('-', '_')}_command", None)
            shown.add(f"{args.command} {sub}" if sub else args.command)
    wanted = {"animate", "blend", "runs list", "runs show", "runs resume"}
    wanted |= {"models", "audio-keyframes"}
    assert wanted <= shown, wanted - shown
    assert any(s.startswith("sessions ") for s in shown), shown


@pytest.mark.parametrize("path", MARKDOWN, ids=_name)
def test_example_schedules_use_prompts_the_model_knows(path):
    blocks = [b for info, b in code_blocks(path.read_text()) if is_schedule_block(info, b)]
    for body in blocks:
        assert caption_problems(schedule_prompts(body)) == [], body


def test_python_examples_compile_and_import():
    for path in MARKDOWN:
        for info, body in code_blocks(path.read_text()):
            if info != "python":
                continue
            tree = ast.parse(body)
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom):
                    module = importlib.import_module(node.module)
                    for alias in node.names:
                        assert hasattr(module, alias.name), f"{node.module}.{alias.name}"
                if (
                    isinstance(node, ast.keyword)
                    and node.arg == "schedule"
                    and isinstance(node.value, ast.Constant)
                ):
                    assert caption_problems(schedule_prompts(node.value.value)) == []


# -- the CLI reference ---------------------------------------------------------------------------


def _subcommands(parser, prefix=()):
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            for name, sub in action.choices.items():
                yield (*prefix, name), sub
                yield from _subcommands(sub, (*prefix, name))


def _is_leaf(parser) -> bool:
    return not any(a.__class__.__name__ == "_SubParsersAction" for a in parser._actions)


def _section(text: str, heading: str) -> str | None:
    match = re.search(rf"^## {re.escape(heading)}[ \t]*\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    return None if match is None else match.group(1)


def test_cli_reference_documents_every_command_and_option():
    text = CLI_DOC.read_text()
    for command, sub in _subcommands(build_parser()):
        name = " ".join(command)
        assert f"python -m studio {name}" in text, name
        if not _is_leaf(sub):
            continue
        section = _section(text, name)
        assert section is not None, f"docs/cli.md has no '## {name}' section"
        examples = [
            c
            for c in studio_commands(section)
            if bash_words(c)[3 : 3 + len(command)] == list(command)
        ]
        assert examples, f"no example of {name} in its section"
        for action in sub._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help":
                    assert f"`{flag}" in section, f"{name} {flag}"


def test_every_cli_command_is_in_the_readme_or_the_docs():
    text = README + "".join(p.read_text() for p in DOCS)
    for command, _ in _subcommands(build_parser()):
        assert f"python -m studio {' '.join(command)}" in text, command


def test_global_options_are_documented():
    text = CLI_DOC.read_text()
    for action in build_parser()._actions:
        for flag in action.option_strings:
            if flag.startswith("--") and flag != "--help":
                assert f"`{flag}" in text, flag
