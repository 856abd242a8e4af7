"""Settings from the environment (``CONDUCT_*``), and where the policy comes from."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from conduct_desk.domain.errors import NotFound
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
    # proxies whose X-Forwarded-For / X-Forwarded-Proto the desk believes: addresses or CIDRs,
    # comma separated (e.g. "127.0.0.1,10.0.0.0/8"); none by default
    trusted_proxies: str = ""
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
