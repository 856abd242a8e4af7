"""The web desk: dashboard, report form and REST API (FastAPI)."""
