"""``CONDUCT_MATRIX_*``: the Matrix bot's settings, checked once. Secrets are never logged."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from conduct_desk.domain.errors import InvalidInput
from conduct_desk.service.chat.roster import ChatAdmin, parse_admins
from conduct_desk.service.chat.secrets import read_secret

NAME = "matrix"
ADMINS_VARIABLE = "CONDUCT_MATRIX_ADMINS"
USER_ID = re.compile(r"@[A-Za-z0-9._=\-/+]+:[A-Za-z0-9.\-]+(?::\d+)?")


class BanMode(StrEnum):
    DEACTIVATE = "deactivate"  # the account is closed for good (Synapse deactivate)
    LOCK = "lock"  # the account is locked: it cannot sign in, and an admin can unlock it


class MatrixSettings(BaseSettings):
    """``CONDUCT_MATRIX_*``. Secrets can come from files (``…_FILE``) and are never logged."""

    model_config = SettingsConfigDict(env_prefix="CONDUCT_MATRIX_", extra="ignore")

    homeserver: str | None = None  # e.g. https://matrix.example.org
    user_id: str | None = None  # the bot, e.g. @conduct:example.org
    access_token: SecretStr | None = None
    access_token_file: Path | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    admin_token: SecretStr | None = None  # a Synapse server admin's token (reports, suspend, ban)
    admin_token_file: Path | None = None
    management_room: str | None = None  # where case cards go and admins type !coc
    rooms: str = ""  # comma list of the rooms the desk looks after
    report_emoji: str = "🚩"
    nudge_emoji: str = "🕊️"
    ban_mode: BanMode | None = None  # set: overrides the policy's [ban] account
    admins: str = ""  # see service.chat.roster.parse_admins; the role defaults to moderator
    poll_seconds: float = 5.0  # long-poll and report-poll interval
    request_timeout: float = 30.0

    def present(self) -> bool:
        return any((self.homeserver, self.user_id, self.access_token, self.access_token_file,
                    self.password, self.password_file, self.management_room))


def _secret(value: SecretStr | None, path: Path | None, name: str) -> str | None:
    return read_secret(value.get_secret_value() if value is not None else None, path,
                       f"CONDUCT_MATRIX_{name}")


@dataclass(frozen=True)
class MatrixConfig:
    """Checked settings. Secrets are kept out of ``repr``."""

    homeserver: str
    user_id: str
    access_token: str | None = field(repr=False)
    password: str | None = field(repr=False)
    admin_token: str | None = field(repr=False)
    management_room: str | None
    rooms: tuple[str, ...]
    report_emoji: str
    nudge_emoji: str
    ban_mode: BanMode
    admins: dict[str, ChatAdmin]
    poll_seconds: float
    request_timeout: float

    @classmethod
    def from_settings(cls, s: MatrixSettings, policy_ban: str = "deactivate") -> MatrixConfig:
        """Checked settings; ``policy_ban`` is the policy's ``[ban] account``, used unless
        CONDUCT_MATRIX_BAN_MODE overrides it."""
        missing = [f"CONDUCT_MATRIX_{n.upper()}" for n in ("homeserver", "user_id")
                   if not getattr(s, n)]
        token = _secret(s.access_token, s.access_token_file, "ACCESS_TOKEN")
        password = _secret(s.password, s.password_file, "PASSWORD")
        if not token and not password:
            missing.append("CONDUCT_MATRIX_ACCESS_TOKEN or CONDUCT_MATRIX_PASSWORD")
        if missing:
            raise InvalidInput(f"Matrix is partly configured; also set {', '.join(missing)}")
        assert s.homeserver and s.user_id
        if not USER_ID.fullmatch(s.user_id):
            raise InvalidInput(f"CONDUCT_MATRIX_USER_ID {s.user_id!r} is not a Matrix id like "
                               "@conduct:example.org")
        return cls(
            homeserver=s.homeserver.rstrip("/"), user_id=s.user_id, access_token=token,
            password=password, admin_token=_secret(s.admin_token, s.admin_token_file, "ADMIN_TOKEN"),
            management_room=s.management_room or None,
            rooms=tuple(r.strip() for r in s.rooms.split(",") if r.strip()),
            report_emoji=s.report_emoji, nudge_emoji=s.nudge_emoji,
            ban_mode=s.ban_mode or BanMode(policy_ban),
            admins=parse_admins(NAME, s.admins, ADMINS_VARIABLE, valid_id=USER_ID),
            poll_seconds=s.poll_seconds, request_timeout=s.request_timeout,
        )
