"""A pack's questions put to a person: parsed from flags, prompted for, shown in help.

The questions are the fields of the pack's answers model (one field, one question; its
description is the prompt text), so this module kept beside them reads them from there, as
copier keeps its prompting with its questions. The CLI only hands over the arguments it did not
know and whether it may prompt; validation and defaults stay in the answers model.
"""

from __future__ import annotations

import io
import select
import sys
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, get_args

import click
from pydantic.fields import FieldInfo

from mlops.core.errors import InvalidAnswersError, UserError
from mlops.core.text import suggest
from mlops.templates.answers import BaseAnswers, load_answers_file, validate_with
from mlops.templates.pack import available_packs, load_pack


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def _enum_of(annotation: Any) -> type[Enum] | None:
    """The enum of a question's answers (or of a list of them), if it has one."""
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, Enum):
            return candidate
    return None


@dataclass(frozen=True)
class Questions:
    """One pack's questions, as the fields of its answers model.

    Attributes:
        model: the pack's answers model; every field but ``name`` is a question.
        template: what the user called the pack (``--template``), for messages.
    """

    model: type[BaseAnswers]
    template: str

    def _is_bool(self, field: str) -> bool:
        return bool(self.model.model_fields[field].annotation is bool)

    def answers(
        self, name: str, args: list[str], answers_file: Path | None, ask: bool
    ) -> BaseAnswers:
        """The validated answers from an answers file, ``--question`` flags and prompts.

        Flags win over the file; an answer derived from one a flag changes is derived anew.
        With ``ask``, questions still unanswered are prompted for when standard input can
        answer them (:func:`interactive`).

        Raises:
            UserError: the answers file is unreadable, or an argument is not a question.
            InvalidAnswersError: an answer breaks a rule of the pack's answers model.
        """
        recorded: dict[str, Any] = load_answers_file(answers_file) if answers_file else {}
        raw = self.model.replay(recorded, self.parse(args))
        raw["name"] = name
        if ask and interactive():
            raw = self.prompt_missing(raw)
        return validate_with(self.model, raw)

    def parse(self, args: list[str]) -> dict[str, Any]:
        """Turn ``--question value`` / ``--question=value`` / ``--[no-]flag`` into answers.

        Raises:
            UserError: an argument is not one of the pack's questions, or lacks its value.
        """
        questions = [f for f in self.model.model_fields if f != "name"]
        answers: dict[str, Any] = {}
        rest = list(args)
        while rest:
            token = rest.pop(0)
            key, has_value, value = token.removeprefix("--").partition("=")
            field = key.replace("-", "_")
            negated = (
                field.startswith("no_") and field[3:] in questions and self._is_bool(field[3:])
            )
            if not token.startswith("--") or (field not in questions and not negated):
                flags = [_flag(q) for q in questions]
                raise UserError(
                    f"unknown option {token}{suggest(token, flags)} for template"
                    f" '{self.template}'; its questions: {', '.join(flags)}"
                )
            if negated:
                answers[field[3:]] = False
            elif self._is_bool(field) and not has_value:
                answers[field] = True
            elif has_value:
                answers[field] = value
            elif rest and not rest[0].startswith("--"):
                answers[field] = rest.pop(0)
            else:
                raise UserError(f"{token} needs a value, e.g. {token} VALUE")
        return answers

    def help(self) -> list[str]:
        """One line per question: its flag, prompt text, choices and default."""
        lines = []
        for field, info in self.model.model_fields.items():
            if field == "name":
                continue
            default = info.get_default(call_default_factory=True)
            if isinstance(default, list):
                default = ",".join(str(item) for item in default)
            flag = (
                f"{_flag(field)}/--no-{field.replace('_', '-')}"
                if self._is_bool(field)
                else _flag(field)
            )
            lines.append(
                f"  {flag}: {info.description}{_choices(info.annotation)}"
                f" [default: {self._shown_default(field, default)}]"
            )
        return lines

    def _shown_default(self, field: str, default: object) -> str:
        """The default as help shows it: ``derived`` only where another answer decides it."""
        if default in ("", None, -1) and field in self.model.DERIVED:
            return "derived"
        if field == "training_gpus" and default == -1:
            return "the framework's"
        return "empty" if default == "" else str(default)

    def prompt_missing(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Ask each missing question in turn, checking each answer as it is given.

        On a terminal a bad answer is explained and asked again; with piped answers it stops
        the command at once, naming the question, before anything is written.

        Raises:
            InvalidAnswersError: a piped answer breaks a rule of its question.
        """
        terminal = on_terminal()
        # The pack's own questions first (what the project is), then the shared ones.
        shared = list(BaseAnswers.model_fields)
        order = [f for f in self.model.model_fields if f not in shared] + shared
        for key in order:
            info = self.model.model_fields[key]
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            if key in raw or extra.get("prompt") is False:
                continue
            while True:
                raw[key] = _ask(info, key)
                try:
                    validate_with(self.model, raw)
                except InvalidAnswersError as exc:
                    mine = [message for field, message in exc.problems if field == key]
                    if mine:
                        if not terminal:
                            raise InvalidAnswersError([(key, m) for m in mine]) from None
                        click.secho(f"  {key}: {'; '.join(mine)}", fg="red", err=True)
                        continue
                break  # the answer holds (later questions may still be unanswered)
        return raw


def _choices(annotation: Any) -> str:
    """`` (a, b, c)`` for an enum (or a list of one), else an empty string."""
    enum = _enum_of(annotation)
    return " (" + ", ".join(str(member.value) for member in enum) + ")" if enum else ""


def _ask(info: FieldInfo, key: str) -> Any:
    """One prompt: choices shown for enums, yes/no for booleans."""
    default = info.get_default(call_default_factory=True)
    text = info.description or key
    if isinstance(default, bool):
        return click.confirm(text, default=default)
    if isinstance(default, list):
        default = ",".join(str(getattr(item, "value", item)) for item in default)
    # The choices are shown; the answers model judges the answer (one message for every rule).
    text += _choices(info.annotation)
    return click.prompt(text, default=str(getattr(default, "value", default)))


def questions_help() -> str:
    """Each installed pack's questions, with their defaults, for ``mlops init --help``."""
    lines = []
    for name in sorted(available_packs()):
        lines.append(f"Questions of template '{name}':")
        lines += Questions(load_pack(name).answers_model, name).help()
    return "\n\n".join(lines)


def interactive() -> bool:
    """Prompt on a terminal, and read piped answers (``printf ... | mlops init``).

    Standard input that is neither a terminal nor has anything to read (a CI job, a closed
    pipe) means no prompts: the defaults stand.
    """
    if sys.stdin is None or sys.stdin.closed:
        return False
    if sys.stdin.isatty():
        return True
    try:
        readable, _, _ = select.select([sys.stdin], [], [], 0)
    except (OSError, ValueError):  # not a real file (a test runner's buffer): nothing piped
        return False
    piped = sys.stdin.read() if readable else ""
    if not piped.strip():
        return False  # /dev/null or an empty pipe: the defaults
    sys.stdin = io.StringIO(piped)  # the prompts read the piped lines in order
    return True


def on_terminal() -> bool:
    """Whether a person answers (bad answers are asked again) rather than a pipe."""
    return bool(sys.stdin.isatty())
