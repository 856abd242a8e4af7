"""``CONDUCT_DISCORD_*``: the bot's token, its server, the admin channel and the admins."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from conduct_desk.domain.accounts import Role
from conduct_desk.domain.errors import InvalidInput
from conduct_desk.service.chat.roster import DEFAULT_ROLE, ChatAdmin, parse_admins
from conduct_desk.service.chat.secrets import read_secret

DEFAULT_API_URL = "https://discord.com/api/v10"
DEFAULT_GATEWAY_URL = "wss://gateway.discord.gg"
SNOWFLAKE = re.compile(r"\d{15,21}")
VARIABLE = "CONDUCT_DISCORD_ADMINS"
_ROLES = {r.value for r in Role}


@dataclass(frozen=True)
class Admins:
    """The listed admins: people by user id, and server roles whose members act as admins."""

    people: dict[str, ChatAdmin]
    roles: dict[str, Role]  # Discord role id -> the desk role its members have


def parse_discord_admins(value: str) -> Admins:
    """``CONDUCT_DISCORD_ADMINS``: the chat layer's grammar (``ana=111:admin, 222``), plus
    server roles written ``role:ID`` or ``role:ID:moderator`` (the desk role defaults to
    moderator). Role ids are the ones Discord shows with Developer Mode on (right-click the
    role → Copy Role ID)."""
    if value.strip().startswith("{"):  # JSON: people only
        return Admins(parse_admins("discord", value, VARIABLE, valid_id=SNOWFLAKE), {})
    people: list[str] = []
    roles: dict[str, Role] = {}
    last_role: str | None = None  # a role entry still waiting for a desk role word
    for token in filter(None, re.split(r"[,\s]+", value.strip())):
        lowered = token.lower()
        if lowered.startswith("role:"):
            rid, _, word = token[5:].partition(":")
            if not SNOWFLAKE.fullmatch(rid):
                raise InvalidInput(f"{VARIABLE}: {token!r} is not a Discord role id (like "
                                   "role:123456789012345678:moderator)")
            roles[rid] = _desk_role(word, rid) if word else DEFAULT_ROLE
            last_role = None if word else rid
            continue
        if lowered in _ROLES and last_role is not None:
            roles[last_role] = Role(lowered)
            last_role = None
            continue
        last_role = None
        people.append(token)
    return Admins(parse_admins("discord", " ".join(people), VARIABLE, valid_id=SNOWFLAKE), roles)


def _desk_role(word: str, rid: str) -> Role:
    try:
        return Role(word.strip().lower())
    except ValueError:
        raise InvalidInput(f"{VARIABLE}: role {word!r} for role:{rid}; use admin, moderator or "
                           "observer") from None


class DiscordSettings(BaseSettings):
    """``CONDUCT_DISCORD_*``. The bot token may instead come from a file: ``..._FILE``."""

    model_config = SettingsConfigDict(env_prefix="CONDUCT_DISCORD_", extra="ignore")

    bot_token: SecretStr | None = None
    bot_token_file: Path | None = None
    application_id: str | None = None  # the Developer Portal's Application ID
    guild_id: str | None = None  # the server (guild) the desk looks after
    admin_channel: str | None = None  # the private channel where admins work (its id)
    admins: str = ""  # "111:admin, ana=222, role:333:moderator" (roles default to moderator)
    report_emoji: str = "🚩"  # a Unicode emoji, or a custom one as name:id
    message_content: bool = False  # the privileged Message Content intent (see the README)
    api_url: str = DEFAULT_API_URL
    gateway_url: str = DEFAULT_GATEWAY_URL

    def secret(self, name: str) -> str | None:
        value: SecretStr | None = getattr(self, name)
        return read_secret(value.get_secret_value() if value is not None else None,
                           getattr(self, f"{name}_file"), f"CONDUCT_DISCORD_{name.upper()}")

    @property
    def configured(self) -> bool:
        return any((self.bot_token, self.bot_token_file, self.application_id, self.guild_id))

    def admin_list(self) -> Admins:
        return parse_discord_admins(self.admins)

    def check(self) -> None:
        """One clear error for the first setting that is missing or malformed."""
        for name, where in (("application_id", "General Information → Application ID"),
                            ("guild_id", "right-click the server icon → Copy Server ID"),
                            ("admin_channel", "right-click the admins' channel → Copy Channel ID")):
            value = (getattr(self, name) or "").strip()
            if not value:
                raise InvalidInput(f"CONDUCT_DISCORD_{name.upper()} is missing: in Discord, {where}"
                                   " (ids show with User Settings → Advanced → Developer Mode)")
            if not SNOWFLAKE.fullmatch(value):
                raise InvalidInput(f"CONDUCT_DISCORD_{name.upper()}: {value!r} is not a Discord id "
                                   f"(a number like 123456789012345678); {where}")
        if not self.report_emoji.strip():
            raise InvalidInput("CONDUCT_DISCORD_REPORT_EMOJI is empty; leave it unset for 🚩")
        for name in ("api_url", "gateway_url"):
            url = getattr(self, name)
            schemes = ("https://", "http://") if name == "api_url" else ("wss://", "ws://")
            if not url.startswith(schemes):
                raise InvalidInput(f"CONDUCT_DISCORD_{name.upper()}: {url!r} must start with "
                                   f"{' or '.join(schemes)}")
