"""Platforms: one package per chat system (settings, the steps, a thin transport), each SDK
imported only in its own package; the behaviour they share lives in ``service/chat``."""
