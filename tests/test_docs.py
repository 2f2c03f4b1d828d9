"""The README says what the code does: every setting (its table is made from the settings'
declarations), every command and every step. Each check is shown to fail on a README that
lost one line."""

from __future__ import annotations

import argparse
import re

import pytest

from bibia.cli import _parser
from bibia.settings import VARIABLES, markdown_table
from bibia.steps import StepName
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def commands() -> list[str]:
    """Every command and sub-command of `bibia`, as a person types it."""
    found: list[str] = []

    def walk(parser: argparse.ArgumentParser, prefix: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    found.append(f"{prefix} {name}")
                    walk(sub, f"{prefix} {name}")

    walk(_parser(), "bibia")
    return found


def missing(readme: str) -> list[str]:
    """What the README does not say: settings whose table row differs, commands it never names,
    steps its Prefect section never names."""
    out = [f"setting {v.name}" for v in VARIABLES if f"| `{v.name}` |" not in readme]
    if markdown_table() not in readme:
        out.append("the settings' table differs from their declarations")
    commands_table = readme.split("## Commands", 1)[1].split("\n## ", 1)[0]
    for command in commands():
        words = command.split()
        said = re.search(r"`bibia " + r"\s*".join(map(re.escape, words[1:2])), commands_table)
        if said is None or (len(words) > 2 and words[2] not in commands_table):
            out.append(f"command {command}")
    prefect = readme.split("## Scheduling with Prefect", 1)[1].split("\n## ", 1)[0]
    out += [f"step {s}" for s in StepName if f"`{s}`" not in prefect]
    return out


def test_the_readme_says_every_setting_command_and_step():
    assert missing(README) == []


@pytest.mark.parametrize(
    "line",
    [
        "| `BIBIA_WEBHOOK_KEEP_DAYS` |",
        "| `bibia webhook` |",
        "| `bibia curate correct",
    ],
)
def test_the_check_fails_when_the_readme_loses_a_line(line):
    lost = "\n".join(row for row in README.splitlines() if not row.startswith(line))
    assert lost != README and missing(lost) != []


def test_the_check_fails_when_a_step_is_not_named():
    head, prefect = README.split("## Scheduling with Prefect", 1)
    lost = head + "## Scheduling with Prefect" + prefect.replace("`fetch_questions`", "it", 1)
    assert missing(lost) == ["step fetch_questions"]


ENGLISH = re.compile(
    r"\b(the|and|of|with|every|show|this|when|from|run|runs|exit|number|error|required|"
    r"arguments are|unrecognized|invalid|choose)\b",
    re.IGNORECASE,
)
FRENCH = re.compile(
    r"\b(le|la|les|l|des|de|du|un|une|et|à|en|d|au|aux|pour|sur|par|qui|quand|même)\b",
    re.IGNORECASE,
)


def parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    """`bibia` and every sub-command's parser, by the command a person types."""
    found = [("bibia", _parser())]
    for name, parser in found:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                found += [(f"{name} {sub}", p) for sub, p in action.choices.items()]
    return found


def test_every_commands_and_arguments_help_is_french():
    english = []
    for name, parser in parsers():
        texts = [parser.format_help()]
        texts += [a.help for a in parser._actions if a.help and a.help != argparse.SUPPRESS]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                texts += [c.help for c in action._choices_actions if c.help]
        for text in texts:
            words = re.sub(r"`[^`]*`|\b[A-Z_]{3,}\b|--?[\w-]+|https?://\S+", " ", text)
            if ENGLISH.search(words) or not FRENCH.search(words):
                english.append(f"{name}: {text[:80]!r}")
    assert english == []


def test_the_check_of_french_help_fails_on_an_english_one():
    words = "re-read every submission"
    assert ENGLISH.search(words) and not FRENCH.search(words)


def test_argparse_refusals_are_french():
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "bibia.cli", "sync", "--nope"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == "bibia : erreur : arguments inconnus : --nope"
