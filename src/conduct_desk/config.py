"""Settings from the environment (``CONDUCT_*``), and where the policy comes from."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from conduct_desk.domain.errors import InvalidInput, NotFound
from conduct_desk.domain.policy import Policy, parse_policy

PRESETS = ("guide", "contributor-covenant-2.1")


class Settings(BaseSettings):
    """Every setting can be given as an environment variable, e.g. ``CONDUCT_DATABASE_URL``."""

    model_config = SettingsConfigDict(env_prefix="CONDUCT_", extra="ignore")

    database_url: str = "sqlite:///conduct.db"
    policy: Path | None = None  # default: ./conduct.toml when present, else the guide preset
    preset: str = "guide"
    base_url: str | None = None  # the web desk's public address, for private links
    default_platform: str = "sandbox"
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
        except OSError as exc:
            raise InvalidInput(
                f"CONDUCT_SECRET_KEY_FILE {self.secret_key_file} cannot be read ({exc.strerror}); "
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
        except OSError as exc:
            raise InvalidInput(
                f"CONDUCT_METRICS_TOKEN_FILE {self.metrics_token_file} cannot be read "
                f"({exc.strerror}); fix the path, or unset it to serve no /metrics"
            ) from None

    # proxies whose X-Forwarded-For / X-Forwarded-Proto the desk believes: addresses or CIDRs,
    # comma separated (e.g. "127.0.0.1,10.0.0.0/8"); none by default
    trusted_proxies: str = ""
    # a timer claimed by a worker that died is run by another after this many seconds
    timer_lease_seconds: float = Field(default=300.0, ge=1.0)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)  # larger request bodies get 413


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
        source, text = str(path), path.read_text("utf-8")
    policy = parse_policy(text, source)
    check_policy_texts(policy, source)
    return policy
