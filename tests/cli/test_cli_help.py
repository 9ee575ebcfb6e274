"""Help texts in one style, checked over the whole parser (a new command or option is
held to it too):

- every command has a one-line help and a description; every option and argument a
  help;
- a help is a phrase: it starts in lower case (unless with a name such as TOML or
  PostgreSQL) and has no full stop at the end;
- a description is a sentence: a capital first, a full stop last;
- a default is given as "(default: …)", never "(default …)" or a bare "(30)".
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

import pytest

from tactful.cli.main import _parser

# Words a help may start with in capitals: names, not sentence case.
NAMES = {"TOML", "ISO", "PostgreSQL", "SQL", "JSON", "TLS", "HOST:PORT"}
# Owned apart: their texts are brought to this style where they are written.
NOT_YET = {"certs dev --days"}
_BARE_DEFAULT = re.compile(r"\(\d[\d.]*\)")  # "(30)"
_DEFAULT = re.compile(r"\(default(?!: )|\bdefault [\"'0-9]")  # "(default 30)", 'default "30d"'


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, argparse.ArgumentParser, str | None]]:
    """Every command and group: its words, its parser and its one-line help."""
    for group in parser._actions:
        if isinstance(group, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in group._choices_actions}
            for name, command in group.choices.items():
                yield " ".join((*path, name)), command, helps.get(name)
                yield from commands(command, (*path, name))


def options() -> Iterator[tuple[str, str | None]]:
    """Every option and argument, as "COMMAND --option", and its help."""
    for words, command, _ in commands(_parser()):
        for action in command._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            yield f"{words} {(action.option_strings or [action.dest])[-1]}", action.help


def phrase_problems(text: str | None) -> list[str]:
    if not text:
        return ["no help"]
    problems = []
    first = text.split()[0].rstrip(":;,")
    if first[0].isupper() and first not in NAMES:
        problems.append(f"starts in capitals ({first!r}); a help is a lower-case phrase")
    if text.endswith("."):
        problems.append("ends with a full stop")
    if _BARE_DEFAULT.search(text) or _DEFAULT.search(text):
        problems.append('a default is written "(default: …)"')
    return problems


COMMANDS = {words: (command, summary) for words, command, summary in commands(_parser())}
OPTIONS = dict(options())


@pytest.mark.parametrize("words", sorted(COMMANDS))
def test_every_command_has_a_help_and_a_description_in_style(words: str) -> None:
    command, summary = COMMANDS[words]
    assert phrase_problems(summary) == [], f"`tactful {words}`: {summary!r}"
    description = command.description or ""
    assert description[:1].isupper() and description.endswith("."), (
        f"`tactful {words} --help` needs a description, one sentence or more: {description!r}"
    )


@pytest.mark.parametrize("option", sorted(set(OPTIONS) - NOT_YET))
def test_every_option_has_a_help_in_style(option: str) -> None:
    assert phrase_problems(OPTIONS[option]) == [], f"`tactful {option}`: {OPTIONS[option]!r}"


def test_the_exceptions_are_still_needed() -> None:
    assert all(phrase_problems(OPTIONS[option]) for option in NOT_YET)
