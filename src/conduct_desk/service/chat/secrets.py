"""A chat platform's secrets: from their variable, or from a file (``…_FILE``). Never logged."""

from __future__ import annotations

from pathlib import Path

from conduct_desk.domain.errors import InvalidInput, unreadable


def read_secret(value: str | None, path: Path | None, variable: str) -> str | None:
    """The secret from ``variable`` or, failing that, ``variable_FILE``; None when neither is
    set. A file that cannot be read, or is empty, is one clear error."""
    if value is not None and value.strip():
        return value.strip()
    if path is None:
        return None
    try:
        text = path.read_text("utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{variable}_FILE: cannot read {path} ({unreadable(exc)}); fix the path "
                           f"or set {variable} itself") from None
    if not text:
        raise InvalidInput(f"{variable}_FILE: {path} is empty; put the secret in it, or set "
                           f"{variable} itself")
    return text
