"""The README and every page under docs/ work as written: each `tactful …` command
names verbs and flags that `tactful … --help` lists, each config it names exists in
a checkout or is explained where it is used, and each relative link leads to a file
(and, into a Markdown page, to a heading) that exists."""

from __future__ import annotations

import contextlib
import functools
import io
import re
import shlex
from pathlib import Path

import pytest

from tactful.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```.*?^```[ \t]*$", flags=re.S | re.M)
ENV = re.compile(r"[A-Z_][A-Z0-9_]*=\S*")


def _id(page: Path) -> str:
    return str(page.relative_to(ROOT))


# Commands ----------------------------------------------------------------------------


def _is_tactful(word: str) -> bool:
    return word == "tactful" or word.endswith("/bin/tactful")


def _argv(line: str) -> list[str] | None:
    """The arguments after `tactful` of a shell line that runs it (environment
    assignments before it allowed), or None for any other line."""
    words = line.split()
    while words and ENV.fullmatch(words[0]):
        words = words[1:]
    if not words or not _is_tactful(words[0]):
        return None
    argv = shlex.split(line, comments=True)
    while argv and ENV.fullmatch(argv[0]):
        argv = argv[1:]
    return [word.strip("[]") for word in argv[1:]]  # `[--force]`: an optional part


def commands(text: str) -> list[list[str]]:
    """Every `tactful …` command of a page: the lines of its `sh` blocks, and its
    inline code spans that start with `tactful `."""
    found = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, flags=re.S | re.M):
        for line in block.replace("\\\n", " ").splitlines():
            argv = _argv(line)
            if argv is not None:
                found.append(argv)
    prose = FENCE.sub("", text)
    for span in re.findall(r"`((?:\S*/bin/)?tactful [^`]+)`", prose):
        argv = _argv(" ".join(span.split()))
        if argv is not None:
            found.append(argv)
    return found


@functools.cache
def help_of(path: tuple[str, ...]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main([*path, "--help"])
    return out.getvalue()


def _verbs(help_text: str) -> set[str] | None:
    """The subcommands a group's help lists, or None for a command that has none."""
    if not re.search(r"^usage: .* COMMAND \.\.\.$", help_text, flags=re.M):
        return None
    return set(re.findall(r"^    ([a-z][a-z-]*)(?:\s|$)", help_text, flags=re.M))


def command_problems(argv: list[str]) -> list[str]:
    """What `tactful --help` and each subcommand's `--help` say is not there."""
    problems: list[str] = []
    path: list[str] = []
    for word in argv:
        if "…" in word:
            break  # the rest is elided (`tactful audit …`)
        help_text = help_of(tuple(path))
        if word.startswith("-"):
            flag = word.split("=")[0]
            if flag not in re.findall(r"--?[a-zA-Z][a-z0-9-]*", help_text):
                problems.append(f"tactful {' '.join(path)}: no option {flag}")
            continue
        verbs = _verbs(help_text)
        if verbs is None:
            continue  # an argument of a command
        if word not in verbs:
            problems.append(f"tactful {' '.join(path)}: no command {word!r}")
            break
        path.append(word)
    return problems


@pytest.mark.parametrize("page", PAGES, ids=_id)
def test_every_command_names_verbs_and_flags_tactful_knows(page: Path) -> None:
    problems = [
        f"{' '.join(argv)}: {problem}"
        for argv in commands(page.read_text(encoding="utf-8"))
        for problem in command_problems(argv)
    ]
    assert problems == []


def test_the_pages_show_commands() -> None:
    assert sum(len(commands(p.read_text(encoding="utf-8"))) for p in PAGES) > 100


# Configs -----------------------------------------------------------------------------


def config_problems(text: str) -> list[str]:
    """A `--config` a command names: a file of the checkout, one the page's own shell
    lines write (`> tls.toml`), a placeholder (FILE), or a deployment's absolute path
    the page explains (names it in a code span of its own)."""
    problems = []
    for argv in commands(text):
        for flag, value in zip(argv, argv[1:], strict=False):
            if flag != "--config" or value.isupper():
                continue
            if Path(value).is_absolute():
                if f"`{value}`" not in text:
                    problems.append(f"{value}: a deployment's config the page does not explain")
            elif not (ROOT / value).exists() and f"> {value}" not in text:
                problems.append(f"{value}: no such file in a checkout, and the page makes none")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=_id)
def test_every_config_exists_or_is_explained(page: Path) -> None:
    assert config_problems(page.read_text(encoding="utf-8")) == []


def test_the_docs_say_commands_run_against_the_development_default() -> None:
    text = "\n".join(p.read_text(encoding="utf-8") for p in PAGES)
    assert "leave out `--config`" in text or "no `--config`" in text


# Links -------------------------------------------------------------------------------


def slug(heading: str) -> str:
    """The anchor a code host gives a heading (GitHub's rule)."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6} (.+)$", FENCE.sub("", page.read_text()), flags=re.M):
        base, n = slug(heading), 0
        name = base
        while name in found:
            n += 1
            name = f"{base}-{n}"
        found.add(name)
    return found


def link_problems(page: Path) -> list[str]:
    """Every relative link and image of `page` that leads nowhere."""
    prose = re.sub(r"`[^`\n]*`", "", FENCE.sub("", page.read_text(encoding="utf-8")))
    problems = []
    for target in re.findall(r"\]\(([^)\s]+)\)", prose):
        if re.match(r"[a-z][a-z+.-]*:", target):
            continue  # http:, https:, mailto:
        path, _, anchor = target.partition("#")
        where = (page.parent / path).resolve() if path else page
        if not where.exists():
            problems.append(f"{target}: no such file")
        elif anchor and where.suffix == ".md" and anchor not in anchors(where):
            problems.append(f"{target}: no heading #{anchor} in {where.name}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=_id)
def test_every_relative_link_resolves(page: Path) -> None:
    assert link_problems(page) == []


# The checks themselves ---------------------------------------------------------------


def test_the_checks_catch_a_broken_command_a_missing_config_and_a_dead_link(
    tmp_path: Path,
) -> None:
    (tmp_path / "there.md").write_text("# A heading\n")
    page = tmp_path / "page.md"
    page.write_text(
        "```sh\n"
        "tactful audit verify --config /etc/tactful/other.toml --checkpoints a\n"
        "tactful audit verfy\n"
        ".venv/bin/tactful keys rotate --no-such-flag\n"
        "tactful keys init --config missing.toml\n"
        "```\n"
        "Run `tactful tokens issue web_frontend --expires 90d`.\n"
        "[fine](there.md#a-heading) [gone](nowhere.md) [wrong](there.md#another)\n"
    )
    text = page.read_text()
    assert [p for argv in commands(text) for p in command_problems(argv)] == [
        "tactful audit: no command 'verfy'",
        "tactful keys rotate: no option --no-such-flag",
        "tactful tokens issue: no option --expires",
    ]
    assert config_problems(text) == [
        "/etc/tactful/other.toml: a deployment's config the page does not explain",
        "missing.toml: no such file in a checkout, and the page makes none",
    ]
    assert link_problems(page) == [
        "nowhere.md: no such file",
        "there.md#another: no heading #another in there.md",
    ]
