"""The emulator's latency model: time to first token, tokens per second, answer length, seeded jitter.

Each sampled quantity is its configured value times a log-normal factor whose median is 1, so the
configured numbers are the medians a client observes.
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    first_token_s: float
    token_interval_s: float
    tokens: int

    @property
    def total_s(self) -> float:
        return self.first_token_s + self.token_interval_s * max(0, self.tokens - 1)


@dataclass
class LatencyModel:
    first_token_ms: float = 100.0
    tokens_per_second: float = 200.0
    answer_tokens: int = 30
    jitter: float = 0.1  # sigma of the log-normal factor; 0 = exact
    seed: int = 1234

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def _factor(self) -> float:
        return math.exp(self._rng.gauss(0.0, self.jitter)) if self.jitter > 0 else 1.0

    def sample(self, max_tokens: int | None = None) -> Timing:
        tokens = max(1, round(self.answer_tokens * self._factor()))
        if max_tokens:
            tokens = min(tokens, max_tokens)
        return Timing(
            first_token_s=self.first_token_ms / 1000 * self._factor(),
            token_interval_s=1.0 / (self.tokens_per_second * self._factor()),
            tokens=tokens,
        )

    def choice(self, words: list[str]) -> str:
        return self._rng.choice(words)

    @classmethod
    def from_env(cls, env=os.environ, **overrides) -> LatencyModel:
        """The environment's knobs (UPSTREAM_*), then any explicit overrides that are not None."""
        knobs = {
            "first_token_ms": float(env.get("UPSTREAM_FIRST_TOKEN_MS", "100")),
            "tokens_per_second": float(env.get("UPSTREAM_TOKENS_PER_SECOND", "200")),
            "answer_tokens": int(env.get("UPSTREAM_ANSWER_TOKENS", "30")),
            "jitter": float(env.get("UPSTREAM_JITTER", "0.1")),
            "seed": int(env.get("UPSTREAM_SEED", "1234")),
        }
        return cls(**{**knobs, **{name: value for name, value in overrides.items() if value is not None}})
