"""How load changes over time in the stress and spike profiles.

Both read their numbers from the profile (Locust options, already scaled by the runner for
users; durations and stage sizes scaled here by --scale) and record their phases, with wall-clock
start and end, in metrics.json so that each phase can be judged on its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from locust.util.timespan import parse_timespan

from locust import LoadTestShape
from run_metrics import phases

# the slowest pace at which a shape brings users in or out (bcrypt logins cost ~0.3 s CPU each)
GENTLE_SPAWN_RATE = 2.0


@dataclass(frozen=True)
class Stage:
    name: str
    until_s: float  # seconds from the start of the run
    users: int
    spawn_rate: float


class StagedShape(LoadTestShape):
    """A sequence of stages; subclasses say what the stages are."""

    abstract = True

    def stages(self) -> list[Stage]:
        raise NotImplementedError

    def tick(self):
        if not hasattr(self, "_stages"):
            self._stages = self.stages()
            self._current: str | None = None
        elapsed = self.get_run_time()
        # Locust ignores --run-time when a shape is used: the shape honours it (a shortened run)
        limit = self.options.run_time
        for stage in self._stages:
            if elapsed < stage.until_s and not (limit and elapsed >= limit):
                self._enter(stage)
                return stage.users, stage.spawn_rate
        self._enter(None)
        return None

    def _enter(self, stage: Stage | None) -> None:
        name = stage.name if stage else None
        if name == self._current:
            return
        now = time.time()
        if phases and phases[-1]["end"] is None:
            phases[-1]["end"] = now
        if stage is not None:
            phases.append({"name": stage.name, "users": stage.users, "start": now, "end": None})
        self._current = name

    @property
    def options(self):
        return self.runner.environment.parsed_options


class StressShape(StagedShape):
    """Ramp up stage by stage to the profile's users, to find where the service stops coping."""

    def stages(self) -> list[Stage]:
        scale = self.options.scale
        peak = max(1, self.options.num_users)
        step = max(1, round(self.options.stress_step_users * scale))
        hold = max(5.0, parse_timespan(self.options.stress_step_time) * scale)
        stages, users, until = [], 0, 0.0
        while users < peak:
            users = min(peak, users + step)
            until += hold
            stages.append(Stage(f"stage {len(stages) + 1}: {users} users", until, users,
                                max(GENTLE_SPAWN_RATE, float(step) / 10)))
        return stages


class SpikeShape(StagedShape):
    """Steady, a sudden jump to the profile's users at its spawn rate, a hold, a drop, recovery."""

    def stages(self) -> list[Stage]:
        options = self.options
        scale = options.scale
        base = max(1, round(options.spike_base_users * scale))
        warmup = max(5.0, parse_timespan(options.spike_warmup) * scale)
        hold = max(5.0, parse_timespan(options.spike_hold) * scale)
        total = float(options.run_time or warmup + hold + warmup)
        peak = max(base + 1, options.num_users)
        return [
            Stage("steady", warmup, base, GENTLE_SPAWN_RATE),
            Stage("spike", warmup + hold, peak, float(options.spawn_rate)),
            Stage("recovery", max(total, warmup + hold + 5.0), base, float(options.spawn_rate)),
        ]
