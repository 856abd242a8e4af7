"""``CONDUCT_SLACK_*``: the Slack app's tokens, its admin channel and admins."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from conduct_desk.service.chat.roster import ChatAdmin, parse_admins
from conduct_desk.service.chat.secrets import read_secret

DEFAULT_API_URL = "https://slack.com/api/"
DEFAULT_SCIM_URL = "https://api.slack.com/scim/v2/"
USER_ID = re.compile(r"[UW][A-Z0-9]+")


class SlackSettings(BaseSettings):
    """``CONDUCT_SLACK_*``. Each secret may instead come from a file: ``..._FILE``."""

    model_config = SettingsConfigDict(env_prefix="CONDUCT_SLACK_", extra="ignore")

    bot_token: SecretStr | None = None
    bot_token_file: Path | None = None
    signing_secret: SecretStr | None = None
    signing_secret_file: Path | None = None
    app_token: SecretStr | None = None  # xapp-…: Socket Mode; without it, HTTP mode
    app_token_file: Path | None = None
    scim_token: SecretStr | None = None  # a user token with the admin scope (Business+ plans)
    scim_token_file: Path | None = None
    admin_channel: str | None = None  # channel id, e.g. C0123ADMINS
    report_emoji: str = "triangular_flag_on_post"
    admins: str = ""  # "U123:admin, ana=U456, U789 observer" (the role defaults to moderator)
    api_url: str = DEFAULT_API_URL
    scim_url: str = DEFAULT_SCIM_URL
    timeout: float = Field(default=30.0, ge=1.0)  # seconds a Web API or SCIM call may take
    http_host: str = "127.0.0.1"
    http_port: int = 3000
    http_path: str = "/slack/events"
    process_before_response: bool = False  # True: answer Slack after the work (tests, FaaS)

    def secret(self, name: str) -> str | None:
        """The secret ``name`` from its variable or, failing that, its ``_FILE``."""
        value: SecretStr | None = getattr(self, name)
        return read_secret(value.get_secret_value() if value is not None else None,
                           getattr(self, f"{name}_file"), f"CONDUCT_SLACK_{name.upper()}")

    @property
    def configured(self) -> bool:
        return any((self.bot_token, self.bot_token_file, self.signing_secret,
                    self.signing_secret_file, self.app_token, self.app_token_file))

    def admin_list(self) -> dict[str, ChatAdmin]:
        """The listed admins, by Slack user id (the chat layer's one grammar)."""
        return parse_admins("slack", self.admins, "CONDUCT_SLACK_ADMINS", valid_id=USER_ID)
