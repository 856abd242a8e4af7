"""SQLAlchemy storage: tables, repositories, the unit of work, migrations and timers."""
