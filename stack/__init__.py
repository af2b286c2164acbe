"""Reference VoiceAssist stack: the API contract served on PostgreSQL + Redis or embedded SQLite."""

__version__ = "1.0.0"
