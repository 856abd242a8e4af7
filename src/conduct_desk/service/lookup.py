"""Finding the person a member means: "Sam", "@sam", "@sam:example.org" or ``slack:U123``.

Members know display names and handles, not platform ids. Each configured platform that can
look people up (:attr:`Capability.FIND_PEOPLE`) is asked; one match is the person, several
make a pick list, none is an error that says what to type instead. A platform shows only what
a member of that chat could see: a display name and a handle, never an e-mail address.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from conduct_desk.domain.errors import InvalidInput
from conduct_desk.domain.model import PLATFORM_NAMES
from conduct_desk.domain.people import PersonRef
from conduct_desk.service.ports import Candidate, Capability, Effect, Platform

logger = logging.getLogger(__name__)

MAX_CANDIDATES = 8  # more than this: ask for more of the name (a pick list, not a directory)
MIN_QUERY = 2
FIELD = "subject"
# how a handle looks on each platform, for the error that says what to type
HANDLE_EXAMPLES = {"slack": "@sam", "matrix": "@sam:example.org", "discord": "sam"}


def folded(text: str) -> str:
    """Text compared without case, accents or a leading @."""
    plain = unicodedata.normalize("NFKD", text.strip().lstrip("@"))
    return "".join(ch for ch in plain if not unicodedata.combining(ch)).casefold()


def name_matches(query: str, *names: str | None) -> bool:
    """True when one of ``names`` holds ``query`` (case, accents and a leading @ aside)."""
    q = folded(query)
    return bool(q) and any(q in folded(n) for n in names if n)


@dataclass(frozen=True)
class Found:
    """What a look-up came to: the person, or candidates to pick from."""

    person: PersonRef | None
    candidates: tuple[Candidate, ...] = ()


def finders(platforms: Mapping[str, Platform]) -> list[Platform]:
    return [p for p in platforms.values() if Capability.FIND_PEOPLE in p.capabilities]


def platform_label(name: str) -> str:
    return PLATFORM_NAMES.get(name, name.capitalize())


def handle_examples(platforms: Mapping[str, Platform]) -> str:
    """"@sam:example.org on Matrix or @sam on Slack": how handles look where the desk is."""
    shown = [f"{getattr(p, 'handle_example', None) or HANDLE_EXAMPLES.get(name, 'sam')} on "
             f"{platform_label(name)}" for name, p in sorted(platforms.items())
             if name in HANDLE_EXAMPLES or getattr(p, "handle_example", None)]
    return " or ".join(shown) or "@sam:example.org"


def _names(c: Candidate) -> set[str]:
    """The whole names a person can be found by: display name, handle, id (and a Matrix
    handle without its server)."""
    handle = folded(c.handle)
    return ({folded(c.display_name), handle, handle.split(":", 1)[0], folded(c.person.user_id)}
            | {folded(n) for n in c.also if n})


def find_person(platforms: Mapping[str, Platform], text: str, default_platform: str) -> Found:
    """The person ``text`` means. Raw ids (``slack:U123``) are taken as they are; a name or a
    handle is looked up on every platform that can. Raises :class:`InvalidInput` (field
    ``subject``) when nothing matches, or when too many do."""
    text = text.strip()
    as_typed = PersonRef.parse(text, default_platform)  # refuses invisible characters
    if PersonRef.typed(text) is not None:
        return Found(as_typed)
    able = finders(platforms)
    if not able:  # nobody can look: the id as typed, on the default platform
        return Found(as_typed)
    if len(folded(text)) < MIN_QUERY:
        raise InvalidInput(f"type at least {MIN_QUERY} letters of their name or handle",
                           field=FIELD)
    found: dict[PersonRef, Candidate] = {}
    failed = False
    for platform in able:
        result = platform.find_people(text, MAX_CANDIDATES + 1)
        if isinstance(result, Effect):
            logger.warning("could not look people up on %s: %s", platform.name, result.detail)
            failed = True
            continue
        for c in result:
            found.setdefault(c.person, c)
    # Only whole names count: the form is public, so a few letters must not list the members
    # (a visitor learns only whether a name they already know is there, and which of the
    # people who share it they mean).
    typed = folded(text)
    candidates = sorted((c for c in found.values() if typed in _names(c)),
                        key=lambda c: (folded(c.display_name), c.person))
    exact = [c for c in candidates if folded(c.handle) == typed
             or folded(c.person.user_id) == typed]
    if len(exact) == 1:
        return Found(exact[0].person)
    if len(candidates) == 1:
        return Found(candidates[0].person)
    if len(candidates) > MAX_CANDIDATES:
        raise InvalidInput(f"more than {MAX_CANDIDATES} people match “{text}”: type more of "
                           f"their name, or their handle as it appears in the chat "
                           f"(e.g. {handle_examples(platforms)})", field=FIELD)
    if candidates:
        return Found(None, tuple(candidates))
    if failed:  # a platform did not answer: the report keeps the name as typed (the admins
        return Found(as_typed)  # see it); a report is never refused for a platform's silence
    raise InvalidInput(f"nobody called “{text}” was found: try their handle as it appears in "
                       f"the chat (e.g. {handle_examples(platforms)})", field=FIELD)
