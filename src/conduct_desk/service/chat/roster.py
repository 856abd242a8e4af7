"""The admins a chat platform's settings list, and who a chat user is to the desk.

One grammar for every platform's ``CONDUCT_<PLATFORM>_ADMINS``, one default role
(:data:`DEFAULT_ROLE`), and one rule for what a role allows: the domain's :class:`Role`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from conduct_desk.domain.accounts import Role
from conduct_desk.domain.errors import InvalidInput
from conduct_desk.service.roster import PlatformAdmin

DEFAULT_ROLE = Role.MODERATOR  # least privilege: a ban needs an admin to say "admin"
_ROLES = {r.value for r in Role}
_SPLIT = re.compile(r"[,\s]+")


@dataclass(frozen=True)
class ChatAdmin:
    """A chat user the desk acts for. ``name`` is what cases record: a web account's name
    when one carries this platform identity, else the name the settings give, else
    ``platform:id``."""

    name: str
    user_id: str
    role: Role
    platform: str

    @property
    def identity(self) -> str:
        return f"{self.platform}:{self.user_id}"

    @property
    def aliases(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.identity, self.user_id)))

    def may(self, needed: Role) -> bool:
        return self.role.includes(needed)


def parse_admins(platform: str, value: str, variable: str,
                 valid_id: re.Pattern[str] | None = None) -> dict[str, ChatAdmin]:
    """Read an admin list, keyed by user id.

    Entries are separated by commas or spaces; each is ``[name=]ID[:role]``, and a role word
    may also follow on its own (``ana=@ana:example.org moderator``). JSON works too:
    ``{"ana": "@ana:example.org", "bo": {"id": "U123", "role": "admin"}}``. The role defaults
    to moderator.
    """
    value = value.strip()
    entries: list[tuple[str | None, str, str | None]] = []
    if value.startswith("{"):
        try:
            raw = json.loads(value)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{variable} is not valid JSON ({exc.msg}); write it like "
                               '{"ana": "ID"} or ana=ID, bo=ID:admin') from None
        if not isinstance(raw, dict):
            raise InvalidInput(f"{variable} must map names to user ids")
        for name, spec in raw.items():
            if isinstance(spec, dict):
                role = spec.get("role")
                entries.append((str(name), str(spec.get("id", "")),
                                str(role) if role is not None else None))
            else:
                uid, _, role_word = str(spec).strip().partition(" ")
                entries.append((str(name), uid, role_word or None))
    else:
        for token in filter(None, _SPLIT.split(value)):
            if token.lower() in _ROLES:
                if not entries or entries[-1][2] is not None:
                    raise InvalidInput(f"{variable}: the role {token!r} follows no admin; write "
                                       "name=ID role, or ID:role")
                name, uid, _ = entries[-1]
                entries[-1] = (name, uid, token)
                continue
            name, eq, rest = token.partition("=")
            if not eq:
                name, rest = "", token
            elif rest.lower() in _ROLES:  # ID=role
                name, rest = "", f"{name}:{rest}"
            uid, role_word = rest, None
            head, colon, tail = rest.rpartition(":")
            if colon and tail.lower() in _ROLES:
                uid, role_word = head, tail
            entries.append((name or None, uid, role_word))
    admins: dict[str, ChatAdmin] = {}
    for name, uid, role_word in entries:
        head, colon, tail = uid.rpartition(":")
        if (colon and role_word is None and valid_id is not None and not valid_id.fullmatch(uid)
                and valid_id.fullmatch(head)):  # ID:role with a role that is none of ours
            raise InvalidInput(f"{variable}: role {tail!r} for {name or head}; use admin, "
                               "moderator or observer")
        if not uid or (valid_id is not None and not valid_id.fullmatch(uid)):
            raise InvalidInput(f"{variable}: {uid!r} is not a {platform} user id "
                               f"({'like ' + _EXAMPLES.get(platform, 'U0123ABCD')})")
        try:
            role = Role(role_word.strip().lower()) if role_word else DEFAULT_ROLE
        except ValueError:
            raise InvalidInput(f"{variable}: role {role_word!r} for {name or uid}; use admin, "
                               "moderator or observer") from None
        admins[uid] = ChatAdmin(name or f"{platform}:{uid}", uid, role, platform)
    return admins


_EXAMPLES = {"slack": "U0123ABCD", "matrix": "@ana:example.org", "discord": "123456789012345678"}


def platform_admins(admins: dict[str, ChatAdmin]) -> dict[str, PlatformAdmin]:
    """The desk's view of the listed admins (for --admin, hand-over, recusal, backups)."""
    return {a.name: PlatformAdmin(a.name, a.role, a.aliases) for a in admins.values()}
