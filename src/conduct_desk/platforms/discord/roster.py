"""Admins by server role: whoever holds a role listed in ``CONDUCT_DISCORD_ADMINS`` as
``role:ID[:deskrole]`` acts with that desk role.

The chat desk reads admins from a mapping of user id to :class:`ChatAdmin`; this one also
answers for people it has not seen yet, by asking Discord for their roles (one REST call,
remembered for a minute — listing every member would need a privileged intent). Each
interaction carries the member's roles, so the transport keeps it current as people act,
and someone whose role was taken away stops being an admin.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from conduct_desk.domain.accounts import Role
from conduct_desk.service.chat.roster import ChatAdmin

ROLES_TTL = 60.0  # seconds a person's roles are trusted
_RANK = [Role.OBSERVER, Role.MODERATOR, Role.ADMIN]


class RoleRoster(dict[str, ChatAdmin]):
    """The listed people, and the holders of the listed roles as they are found."""

    def __init__(self, people: dict[str, ChatAdmin], roles: dict[str, Role],
                 lookup: Callable[[str], list[str] | None],
                 on_change: Callable[[ChatAdmin, bool], None] | None = None) -> None:
        super().__init__(people)
        self.roles = roles
        self._listed = frozenset(people)
        self._lookup = lookup
        self._on_change = on_change
        self._checked: dict[str, float] = {}
        self._lock = threading.Lock()

    def learn(self, user: str, held: list[str]) -> ChatAdmin | None:
        """The person holds these server roles now: an admin by role, or no longer one."""
        if user in self._listed:
            return super().get(user)
        with self._lock:
            self._checked[user] = time.monotonic()
            granted = [self.roles[r] for r in held if r in self.roles]
            current = super().get(user)
            admin: ChatAdmin | None = None
            if granted:
                best = max(granted, key=_RANK.index)
                if current is not None and current.role is best:
                    return current
                admin = ChatAdmin(f"discord:{user}", user, best, "discord")
                self[user] = admin
            else:
                self.pop(user, None)
        changed = admin or current  # found, or the role was taken away
        if changed is not None and self._on_change is not None:
            self._on_change(changed, admin is not None)
        return admin

    def get(self, key: str, default: Any = None) -> Any:
        """The admin this user is, asking Discord for their roles when not known lately."""
        found = super().get(key)
        if key in self._listed or not self.roles:
            return found if found is not None else default
        checked = self._checked.get(key)
        if checked is None or time.monotonic() - checked >= ROLES_TTL:
            held = self._lookup(key)
            if held is not None:
                found = self.learn(key, held)
            else:
                self._checked[key] = time.monotonic()
        return found if found is not None else default
