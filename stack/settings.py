"""Configuration of the stack, read once from the environment (the CLI turns its options into env)."""

from __future__ import annotations

import os
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from stack.drift_injection import DriftInjection, parse_drift_injection
from stack.ratelimit import RateLimit, parse_rate_limits
from stack.regression import InjectedLatency, parse_injected_latency

DEFAULT_DATA_DIR = Path(tempfile.gettempdir()) / "voiceassist-stack"


def database_url(raw: str | None, data_dir: Path) -> str:
    """Map the URL styles people pass (as service containers give them) onto SQLAlchemy async drivers."""
    if not raw:
        return f"sqlite+aiosqlite:///{data_dir / 'voiceassist.sqlite3'}"
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if raw.startswith(prefix):
            return "postgresql+asyncpg://" + raw[len(prefix) :]
    if raw.startswith("sqlite"):
        return raw.replace("sqlite://", "sqlite+aiosqlite://", 1) if "+aiosqlite" not in raw else raw
    raise ValueError(f"unsupported DATABASE_URL scheme: {raw.split(':', 1)[0]}")


def _jwt_secret(data_dir: Path) -> str:
    """Every worker (and every restart on the same data dir) must sign with the same key."""
    configured = os.environ.get("VOICEASSIST_JWT_SECRET")
    if configured:
        return configured
    path = data_dir / "jwt-secret"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32))
    return path.read_text().strip()


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    redis_url: str | None
    redis_prefix: str
    jwt_secret: str
    bcrypt_rounds: int = 12
    access_ttl_s: int = 300
    refresh_ttl_s: int = 3600
    rate_limits: dict[str, RateLimit] = field(default_factory=dict)
    openai_base_url: str | None = None
    openai_api_key: str = "not-needed"
    chat_model: str = "voiceassist-emulated"
    retrieval_top_k: int = 4
    max_upload_bytes: int = 10 * 1024 * 1024
    injected_latency: InjectedLatency = field(default_factory=InjectedLatency)
    injected_drift: DriftInjection = field(default_factory=DriftInjection)
    # fault injection: a KB upload whose title contains this marker fails to index (a 500 envelope,
    # nothing stored), to test clients against a target whose indexing breaks
    indexing_failure_marker: str = ""
    environment: str = "reference"
    # the seed's REST POST /api/chat; off, the stack serves chat as the real gateway does: only
    # over the realtime WebSocket (for testing clients that must work against the gateway)
    rest_chat: bool = True

    @property
    def uses_services(self) -> bool:
        return self.database_url.startswith("postgresql")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        data_dir = Path(env.get("VOICEASSIST_DATA_DIR") or DEFAULT_DATA_DIR)
        data_dir.mkdir(parents=True, exist_ok=True)
        return cls(
            data_dir=data_dir,
            database_url=database_url(env.get("DATABASE_URL"), data_dir),
            redis_url=env.get("REDIS_URL") or None,
            redis_prefix=env.get("VOICEASSIST_REDIS_PREFIX", "voiceassist:"),
            jwt_secret=_jwt_secret(data_dir),
            bcrypt_rounds=int(env.get("VOICEASSIST_BCRYPT_ROUNDS", "12")),
            access_ttl_s=int(env.get("VOICEASSIST_ACCESS_TTL_S", "300")),
            refresh_ttl_s=int(env.get("VOICEASSIST_REFRESH_TTL_S", "3600")),
            rate_limits=parse_rate_limits(env.get("VOICEASSIST_RATE_LIMITS", "")),
            openai_base_url=(env.get("OPENAI_BASE_URL") or "").rstrip("/") or None,
            openai_api_key=env.get("OPENAI_API_KEY", "not-needed"),
            chat_model=env.get("VOICEASSIST_CHAT_MODEL", "voiceassist-emulated"),
            retrieval_top_k=int(env.get("VOICEASSIST_RETRIEVAL_TOP_K", "4")),
            max_upload_bytes=int(env.get("VOICEASSIST_MAX_UPLOAD_BYTES", str(10 * 1024 * 1024))),
            injected_latency=parse_injected_latency(env.get("VOICEASSIST_INJECT_LATENCY", "")),
            injected_drift=parse_drift_injection(env),
            indexing_failure_marker=env.get("VOICEASSIST_INJECT_INDEXING_FAILURE", ""),
            environment=env.get("VOICEASSIST_ENVIRONMENT", "reference"),
            rest_chat=_switch(env.get("VOICEASSIST_REST_CHAT", "on"), "VOICEASSIST_REST_CHAT"),
        )


def _switch(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("on", "true", "1", "yes"):
        return True
    if lowered in ("off", "false", "0", "no"):
        return False
    raise ValueError(f"{name}: expected on or off, not {value!r}")
