"""The execution service (issue 12, IaC paper §6): the day's orders in, execution decisions out, over HTTP; persistent
(SQLAlchemy: SQLite or PostgreSQL) and restart-safe. ``multiexec serve run``; see docs/serve.md."""
