"""Settings from the environment (``CONDUCT_*``), and where the policy comes from."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from conduct_desk.domain.emails import check_address
from conduct_desk.domain.errors import InvalidInput, NotFound, unreadable
from conduct_desk.domain.policy import Policy, parse_policy
from conduct_desk.mail.smtp import SmtpConfig

PRESETS = ("guide", "contributor-covenant-2.1")


class Settings(BaseSettings):
    """Every setting can be given as an environment variable, e.g. ``CONDUCT_DATABASE_URL``."""

    model_config = SettingsConfigDict(env_prefix="CONDUCT_", extra="ignore")

    @field_validator("policy", "secret_key_file", "metrics_token_file", "audit_signing_key_file",
                     "smtp_password_file", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: Any) -> Any:
        """``CONDUCT_POLICY=`` (set, but empty) means unset, not the current folder."""
        return None if isinstance(value, str) and not value.strip() else value

    database_url: str = "sqlite:///conduct.db"
    policy: Path | None = None  # default: ./conduct.toml when present, else the guide preset
    preset: str = "guide"
    base_url: str | None = None  # the web desk's public address, for private links
    default_platform: str = "sandbox"
    # this replica's name in the listeners' leases (default: the host name); give each
    # replica its own when several share a host name (containers with host networking)
    replica: str | None = None
    # seals anonymous reporters' platform ids at rest (make one with `conduct secret-key`)
    secret_key: SecretStr | None = None
    secret_key_file: Path | None = None

    def sealing_key(self) -> str | None:
        """The key for anonymous reporters' ids: CONDUCT_SECRET_KEY, else the file named by
        CONDUCT_SECRET_KEY_FILE, else None (anonymous reports then keep no id at all)."""
        if self.secret_key is not None and self.secret_key.get_secret_value().strip():
            return self.secret_key.get_secret_value().strip()
        if self.secret_key_file is None:
            return None
        try:
            return self.secret_key_file.read_text("utf-8").strip() or None
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(
                f"CONDUCT_SECRET_KEY_FILE {self.secret_key_file} cannot be read ({unreadable(exc)}); "
                "fix the path, or make a key with `conduct secret-key > FILE`"
            ) from None
    # the bearer token of /metrics (Prometheus); without one, /metrics is not served
    metrics_token: SecretStr | None = None
    metrics_token_file: Path | None = None

    def metrics_secret(self) -> str | None:
        """CONDUCT_METRICS_TOKEN, else the file named by CONDUCT_METRICS_TOKEN_FILE, else None."""
        if self.metrics_token is not None and self.metrics_token.get_secret_value().strip():
            return self.metrics_token.get_secret_value().strip()
        if self.metrics_token_file is None:
            return None
        try:
            return self.metrics_token_file.read_text("utf-8").strip() or None
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(
                f"CONDUCT_METRICS_TOKEN_FILE {self.metrics_token_file} cannot be read "
                f"({unreadable(exc)}); fix the path, or unset it to serve no /metrics"
            ) from None

    # signs the audit log's checkpoints (ed25519; make one with `conduct audit keygen FILE`)
    audit_signing_key: SecretStr | None = None
    audit_signing_key_file: Path | None = None

    def audit_signing_secret(self) -> str | None:
        """CONDUCT_AUDIT_SIGNING_KEY, else the file CONDUCT_AUDIT_SIGNING_KEY_FILE names, else
        None (checkpoints are then published unsigned, and say so)."""
        from conduct_desk.service.chat.secrets import read_secret

        value = self.audit_signing_key.get_secret_value() if self.audit_signing_key else None
        return read_secret(value, self.audit_signing_key_file, "CONDUCT_AUDIT_SIGNING_KEY")

    # proxies whose X-Forwarded-For / X-Forwarded-Proto the desk believes: addresses or CIDRs,
    # comma separated (e.g. "127.0.0.1,10.0.0.0/8"); none by default
    trusted_proxies: str = ""
    # a timer claimed by a worker that died is run by another after this many seconds
    timer_lease_seconds: float = Field(default=300.0, ge=1.0)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)  # larger request bodies get 413

    # email notices to the on-duty admins (read by :meth:`smtp`); none without a host
    smtp_host: str | None = None
    smtp_port: str | None = None  # default 587 with STARTTLS, 25 without
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_password_file: Path | None = None
    smtp_from: str | None = None
    smtp_starttls: str | None = None  # default true

    def smtp(self) -> SmtpConfig | None:
        """The mail server for email notices, or None when CONDUCT_SMTP_HOST is not set (and
        no other CONDUCT_SMTP_* either). A setting missing or malformed is an InvalidInput
        naming its variable; the password is never in a message."""
        given = [name for name, value in (
            ("CONDUCT_SMTP_PORT", self.smtp_port), ("CONDUCT_SMTP_USER", self.smtp_user),
            ("CONDUCT_SMTP_PASSWORD", self.smtp_password),
            ("CONDUCT_SMTP_PASSWORD_FILE", self.smtp_password_file),
            ("CONDUCT_SMTP_FROM", self.smtp_from), ("CONDUCT_SMTP_STARTTLS", self.smtp_starttls),
        ) if value not in (None, "")]
        host = (self.smtp_host or "").strip()
        if not host:
            if given:
                raise InvalidInput(f"CONDUCT_SMTP_HOST is not set, but {', '.join(given)} "
                                   "is: set it to the mail server's host name, or unset the others")
            return None
        starttls = _flag(self.smtp_starttls, "CONDUCT_SMTP_STARTTLS", default=True)
        port = _port(self.smtp_port, 587 if starttls else 25)
        sender = (self.smtp_from or "").strip()
        if not sender:
            raise InvalidInput("CONDUCT_SMTP_FROM is not set: give the address the desk's emails "
                               "come from, e.g. conduct@example.org")
        try:
            sender = check_address(sender)
        except InvalidInput as exc:
            raise InvalidInput(f"CONDUCT_SMTP_FROM: {exc}") from None
        password = self._smtp_password()
        user = (self.smtp_user or "").strip() or None
        if user and password is None:
            raise InvalidInput("CONDUCT_SMTP_USER is set but no password: set "
                               "CONDUCT_SMTP_PASSWORD_FILE (or CONDUCT_SMTP_PASSWORD)")
        if password is not None and not user:
            raise InvalidInput("a CONDUCT_SMTP_PASSWORD is set but no CONDUCT_SMTP_USER: set the "
                               "user name the mail server knows the desk by")
        return SmtpConfig(host=host, port=port, sender=sender, starttls=starttls, user=user,
                          password=password)

    def _smtp_password(self) -> str | None:
        if self.smtp_password is not None and self.smtp_password.get_secret_value():
            return self.smtp_password.get_secret_value()
        if self.smtp_password_file is None:
            return None
        try:
            return self.smtp_password_file.read_text("utf-8").rstrip("\r\n") or None
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(
                f"CONDUCT_SMTP_PASSWORD_FILE {self.smtp_password_file} cannot be read "
                f"({unreadable(exc)}); fix the path"
            ) from None


def _flag(value: str | None, variable: str, *, default: bool) -> bool:
    text = (value or "").strip().lower()
    if not text:
        return default
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise InvalidInput(f"{variable} is {value!r}: use true or false")


def _port(value: str | None, default: int) -> int:
    text = (value or "").strip()
    if not text:
        return default
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise InvalidInput(f"CONDUCT_SMTP_PORT is {value!r}: use a port number from 1 to 65535, "
                           "e.g. 587")
    return int(text)


def preset_text(name: str) -> str:
    if name not in PRESETS:
        raise NotFound(f"no preset {name!r}: use one of {', '.join(PRESETS)}")
    return resources.files("conduct_desk.policies").joinpath(f"{name}.toml").read_text("utf-8")


def load_policy(settings: Settings) -> Policy:
    """Read and validate the policy, including a trial render of every text."""
    from conduct_desk.service.texts import check_policy_texts

    path = settings.policy
    if path is None and Path("conduct.toml").is_file():
        path = Path("conduct.toml")
    if path is None:
        source, text = f"preset {settings.preset}", preset_text(settings.preset)
    else:
        if not path.is_file():
            raise NotFound(f"policy file {path} not found; create one with `conduct init`")
        try:
            source, text = str(path), path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"policy file {path} cannot be read ({unreadable(exc)}); give "
                               "the policy's TOML file, or make one with `conduct init`") from None
    policy = parse_policy(text, source)
    check_policy_texts(policy, source)
    return policy
