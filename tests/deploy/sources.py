"""Reading the deployment files as Docker and compose read them: Dockerfile instructions by stage, the
README's production install commands, compose's `${VAR}` interpolation. Only what the tests need."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "compose.yaml"
README = ROOT / "README.md"
INSTALL_HEADING = "## Install for production"


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, …
    arguments: str  # continuation lines joined, comment lines dropped


@dataclass(frozen=True)
class Stage:
    base: str
    name: str | None
    instructions: tuple[Instruction, ...]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def one(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert len(found) == 1, f"expected one {keyword} in stage {self.name or self.base}, found {len(found)}"
        return found[0]


def instructions(path: Path = DOCKERFILE) -> list[Instruction]:
    """Logical instructions: a trailing backslash continues the line; comment lines (even inside a continued
    instruction) are dropped, as Docker drops them."""
    result: list[Instruction] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        logical = pending + line
        pending = ""
        keyword, _, arguments = logical.partition(" ")
        result.append(Instruction(keyword.upper(), arguments.strip()))
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return result


def stages(path: Path = DOCKERFILE) -> list[Stage]:
    found: list[Stage] = []
    for instruction in instructions(path):
        if instruction.keyword == "FROM":
            words = instruction.arguments.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            found.append(Stage(words[0], name, ()))
        else:
            assert found, f"{instruction.keyword} before the first FROM"
            last = found[-1]
            found[-1] = Stage(last.base, last.name, (*last.instructions, instruction))
    return found


def without_flags(arguments: str) -> str:
    """A RUN/COPY's command without its leading --flag=value options (--mount, --from, --chown)."""
    words = arguments.split(" ")
    while words and words[0].startswith("--"):
        words.pop(0)
    return " ".join(words).strip()


def shell_commands(stage: Stage) -> list[str]:
    """Every command the stage's RUN instructions execute, one per `&&` step, whitespace normalised."""
    commands: list[str] = []
    for run in stage.all("RUN"):
        commands.extend(" ".join(step.split()) for step in without_flags(run.arguments).split("&&"))
    return commands


def exec_form(arguments: str) -> list[str]:
    value = json.loads(arguments)
    assert isinstance(value, list), f"not exec form: {arguments}"
    assert all(isinstance(word, str) for word in value), f"not exec form: {arguments}"
    return value


def healthcheck(stage: Stage) -> tuple[dict[str, str], list[str]]:
    """HEALTHCHECK's options (--interval=30s → {"interval": "30s"}) and its exec-form command."""
    options_part, marker, command = stage.one("HEALTHCHECK").arguments.partition("CMD ")
    assert marker, "HEALTHCHECK without CMD"
    options = dict(option.removeprefix("--").split("=", 1) for option in options_part.split())
    return options, exec_form(command)


def environment(stage: Stage) -> dict[str, str]:
    values: dict[str, str] = {}
    for env in stage.all("ENV"):
        for pair in shlex.split(env.arguments):
            name, equals, value = pair.partition("=")
            assert equals, f"ENV {pair}: use the NAME=value form"
            values[name] = value
    return values


def copy_sources(stage: Stage) -> list[str]:
    """Paths a stage copies from the build context (not --from another stage)."""
    sources: list[str] = []
    for copy in stage.all("COPY"):
        if "--from=" in copy.arguments:
            continue
        sources.extend(word.rstrip("/") for word in without_flags(copy.arguments).split()[:-1])
    return sources


def readme_install_commands() -> list[str]:
    """The commands in the README's production install section (its first ```sh block), one per line."""
    text = README.read_text()
    assert text.count(INSTALL_HEADING + "\n") == 1, f"README has no single '{INSTALL_HEADING}' section"
    section = text.split(INSTALL_HEADING + "\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block, f"no ```sh block under '{INSTALL_HEADING}'"
    lines = [line.split(" #", 1)[0].strip() for line in block.group(1).splitlines()]
    return [" ".join(line.split()) for line in lines if line and not line.startswith("#")]


_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def required_variables(value: str) -> set[str]:
    """Variables written `${NAME:?message}`: compose refuses to start while they are unset or empty."""
    return {m["name"] for m in _INTERPOLATION.finditer(value) if m["op"] == ":?"}


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's interpolation for the forms this project uses: ${NAME}, ${NAME:-default}, ${NAME:?error}."""

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        current = variables.get(name, "")
        if op == ":?" and not current:
            raise KeyError(f"{name}: {arg}")
        if op == ":-" and not current:
            return str(arg)
        return current

    return _INTERPOLATION.sub(substitute, value.replace("$$", "\0")).replace("\0", "$")
