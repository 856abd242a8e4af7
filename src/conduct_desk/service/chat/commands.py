"""One command table for every chat: parsing, usage, help and hints come from it.

Like maubot's declarative commands: each command is declared once, with who may use it and
how it is typed; ``/coc`` (Slack), ``!coc`` (Matrix) and the next platform's slash commands
are the same table with another prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

from conduct_desk.domain.accounts import Role
from conduct_desk.domain.errors import Hint, InvalidInput


@dataclass(frozen=True)
class Spec:
    verb: str
    usage: str  # after the verb: {case} and {person} stand for a case number and a person
    summary: str
    role: Role | None  # None: anyone may use it
    aliases: tuple[str, ...] = ()
    about_case: bool = True  # starts with a case number; refusals are answered privately

    def example(self, prefix: str, person: str, case_id: int | str = 12,
                step_id: int | str = "STEP") -> str:
        usage = self.usage.format(case=case_id, person=person, step=step_id)
        return f"{prefix} {self.verb}" + (f" {usage}" if usage else "")


TABLE: tuple[Spec, ...] = (
    Spec("list", "", "open cases, most urgent first", Role.OBSERVER, about_case=False),
    Spec("show", "{case}", "one case: reports, steps, what the desk recommends", Role.OBSERVER),
    Spec("take", "{case}", "take a case", Role.MODERATOR),
    Spec("handover", "{case} {person}", "give a case to another admin (a name from the admin "
         "list, or the person)", Role.MODERATOR, ("hand-over",)),
    Spec("step", "{case} warn [--duration 24h] [--reason why] [--suggestion text] "
         "[--text own words]", "take a step of the ladder (a ban needs the admin role)",
         Role.MODERATOR),
    Spec("consult", "{case} {person} what they said", "before a ban: what the people who were "
         "hurt said (or `none why it was not possible`)", Role.MODERATOR),
    Spec("resolve", "{case} apologized|steps-taken|no-action|duplicate [reason]",
         "close a case; the reporters are told how it ended (apologized with no step "
         "taken: say where the apology was made)", Role.MODERATOR),
    Spec("reopen", "{case}", "reopen a resolved case", Role.MODERATOR),
    Spec("retry", "{case} {step}", "try a failed step again now", Role.MODERATOR),
    Spec("done", "{case} {step}", "a step you did by hand is done", Role.MODERATOR),
    Spec("lift", "{case} {step}", "end a suspension early, or let someone removed back in",
         Role.MODERATOR),
    Spec("recuse", "{case}", "step aside from a case (answered privately)", Role.OBSERVER),
    Spec("confirm-hurt", "{case} {person}", "confirm that someone named as hurt was hurt (an "
         "admin so confirmed steps aside)", Role.MODERATOR),
    Spec("report", "{person} what happened", "tell the admins about someone", None,
         about_case=False),
    Spec("link", "[CODE]", "one person on two platforms: ask for a code here (it comes "
         "privately), then give it from your other account", None, about_case=False),
    Spec("help", "", "this list", None, about_case=False),
)
BY_VERB = {name: spec for spec in TABLE for name in (spec.verb, *spec.aliases)}
STEP_COMMANDS = ("retry", "done", "lift")
OPTIONS = {"--duration": "duration", "--reason": "reason", "--text": "text",
           "--suggestion": "suggestion"}


@dataclass(frozen=True)
class Parsed:
    spec: Spec
    case_id: int | None
    rest: tuple[str, ...]


def help_text(prefix: str, person: str) -> str:
    lines = ["Conduct Desk commands (case numbers as on the cards):"]
    lines += [f"{spec.example(prefix, person)} — {spec.summary}" for spec in TABLE]
    lines.append("Answers that depend on a case (refusals, stepping aside) come to you "
                 "privately.")
    return "\n".join(lines)


def hint_text(hint: Hint, prefix: str, person: str) -> str:
    """The fix a :class:`Hint` names, as the admin would type it here."""
    spec = BY_VERB.get(hint.verb)
    if spec is None:
        return ""
    return f"`{spec.example(prefix, person, hint.case_id or 12, hint.step_id or 'STEP')}`"


def parse(text: str, prefix: str, person: str) -> Parsed:
    """A command as typed after the prefix (``take 12``); :class:`InvalidInput` with the
    command's usage when it is not right."""
    words = text.split()
    if not words or words[0].lower() in ("-h", "--help"):
        return Parsed(BY_VERB["help"], None, ())
    spec = BY_VERB.get(words[0].lower())
    if spec is None:
        raise InvalidInput(f"unknown command {words[0]!r}; `{prefix} help` lists them")
    args = words[1:]
    if not spec.about_case:
        return Parsed(spec, None, tuple(args))
    usage = spec.example(prefix, person)
    if not args:
        raise InvalidInput(f"which case? `{usage}`")
    return Parsed(spec, number(args[0], "case", usage), tuple(args[1:]))


def number(word: str, what: str, usage: str) -> int:
    try:
        value = int(word.lstrip("#"))
    except ValueError:
        raise InvalidInput(f"{word!r} is not a {what} number; `{usage}`") from None
    if value < 1:
        raise InvalidInput(f"a {what} number is 1 or more; `{usage}`")
    return value


def options(words: tuple[str, ...], usage: str) -> dict[str, str]:
    """``--name value…`` pairs; a value runs to the next option, so reasons need no quotes."""
    found: dict[str, list[str]] = {}
    current: str | None = None
    for word in words:
        if word.lower() in OPTIONS:
            current = OPTIONS[word.lower()]
            if current in found:
                raise InvalidInput(f"{word} is given twice; `{usage}`")
            found[current] = []
        elif word.startswith("--"):
            raise InvalidInput(f"unknown option {word}; use {', '.join(OPTIONS)}")
        elif current is None:
            raise InvalidInput(f"unexpected {word!r}; `{usage}`")
        else:
            found[current].append(word)
    values = {k: " ".join(v).strip() for k, v in found.items()}
    for key, value in values.items():
        if not value:
            raise InvalidInput(f"--{key} needs a value; `{usage}`")
    return values
