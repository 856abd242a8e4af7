"""Conduct Desk: Code of Conduct enforcement for community admins."""

__version__ = "0.1.0"
