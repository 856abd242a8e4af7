"""Shipped policy presets (TOML)."""
