"""The gate's measuring load: every endpoint sampled at the rate its target needs, on a timetable.

A gate judges each endpoint on its own samples, and the realistic mix buys them where users spend
their time (chat), not where a verdict needs them: in the seed's two-minute smoke, cache and
monitoring endpoints got 9-15 requests. With a sample target (`--sample-target N`, the smoke
profile's `sample-target`), each user stops imitating think times and runs every task of its
type on a timetable instead: a task whose name the pinned population's users share `n` times
(`view_history` is a regular and a power user's, `resume_session` every user's) comes due every
`n * run_time / (N * HEADROOM)` seconds, so the run asks each task about N * HEADROOM times in
all, and each endpoint at least N times, whatever the other endpoints' latency.

The timetable, not a closed loop: a slow reply delays only its own user, which then runs its
overdue tasks back to back until it is on time again, so the requests the target is asked for are
fixed by the profile, and a slow endpoint does not thin out the others' samples. A user's rate
does not depend on how many users a run actually has (`--users`), and the runner scales the
target with the run time (`scripts/profiles.py`): a shorter or smaller run sends the same
per-client rates.

A task that asks the model (`asks_the_model`: a chat reply, the server's heaviest work, and sampled
several times over, since several tasks call chat) may keep a lower target (`--model-sample-target`)
than the short calls: paired rounds can measure the short endpoints denser without asking the model
twice as often.

A task whose endpoint the gateway limits per client (refresh 20/minute, /health 100/minute,
/health/detailed 50/minute: locust/endpoints.py) is marked `per_client_limit`: each user runs it at
most LIMIT_SHARE of that rate, and never two calls closer than the limit allows, even when catching
up. A target above what the limits allow then buys more
samples of every other endpoint and as many of the limited ones as their limits allow, never a 429.
"""

from __future__ import annotations

import heapq
import time

# Tasks are asked for this much more often than the target: users spawn one a second, and the run's
# last round is cut short, so the last user to start still leaves every endpoint its target.
HEADROOM = 1.2
# A task the gateway limits per client runs at most this share of its limit: a user that falls behind
# and catches up, or a fixed window that straddles two of its calls, stays clear of a 429.
LIMIT_SHARE = 0.8


class SamplingError(Exception):
    """A profile that asks for a sample target the population cannot be paced for."""


def every_type(method):
    """Mark a user method as a task that every user type runs when it measures, though in the
    realistic mix only some types have it as a task (under the same name, so all share its target)."""
    method.measured_by_every_type = True
    return method


def per_client_limit(per_minute: float):
    """Mark a task whose endpoint the gateway allows each client `per_minute` times a minute: measuring,
    a user runs it at most LIMIT_SHARE of that, however high the sample target."""
    if per_minute <= 0:
        raise SamplingError(f"a per-client limit is a positive rate per minute, not {per_minute}")

    def mark(method):
        method.per_client_per_minute = per_minute
        return method
    return mark


def asks_the_model(method):
    """Mark a task whose requests wait on the model's reply: paced to the model's sample target when the run
    gives one (--model-sample-target), else to the sample target like every other task."""
    method.asks_the_model = True
    return method


def shortest_gap_s(task) -> float:
    """Seconds a user leaves between two runs of the task at least: its per-client limit's, else none."""
    limit = getattr(task, "per_client_per_minute", None)
    return 60.0 / limit if limit else 0.0


def measured_tasks(user_class) -> list:
    """The user type's tasks, each once in declaration order (weights are the mix's, not the gate's),
    then the methods marked `every_type` that it does not have as a task of its own."""
    marked = [member for klass in reversed(user_class.__mro__) for member in vars(klass).values()
              if getattr(member, "measured_by_every_type", False)]
    tasks, names = [], set()
    for task in [*user_class.tasks, *marked]:
        if task.__name__ not in names:
            names.add(task.__name__)
            tasks.append(task)
    return tasks


def task_periods(user_classes, target: int, run_time_s: float, model_target: int = 0) -> dict[str, dict[str, float]]:
    """{user type: {task name: seconds between two runs of it by one user}} for the pinned population.

    Tasks are shared by name: a task that several types have (the same behaviour, e.g. listing
    conversations) is run by all their users together, each less often. A task marked `asks_the_model`
    is paced to `model_target` when it is given (not 0), else to `target`."""
    if target <= 0 or not run_time_s or run_time_s <= 0:
        raise SamplingError(f"a sample target needs a positive target and run time, not {target} in {run_time_s} s")
    if model_target < 0:
        raise SamplingError(f"a model sample target is a count of requests (0: the sample target), not {model_target}")
    unpinned = [cls.__name__ for cls in user_classes if not getattr(cls, "fixed_count", 0)]
    if unpinned:
        raise SamplingError(
            f"--sample-target paces each user type from its pinned count: pin {', '.join(unpinned)} with "
            "fixed_count in the profile's config-users")
    sharing: dict[str, int] = {}
    for cls in user_classes:
        for task in measured_tasks(cls):
            sharing[task.__name__] = sharing.get(task.__name__, 0) + cls.fixed_count

    def unit(task) -> float:
        paced_to = model_target if model_target and getattr(task, "asks_the_model", False) else target
        return run_time_s / (paced_to * HEADROOM)

    return {cls.__name__: {task.__name__: max(sharing[task.__name__] * unit(task), shortest_gap_s(task) / LIMIT_SHARE)
                           for task in measured_tasks(cls)}
            for cls in user_classes}


class Timetable(list):
    """A user's `tasks` list that deals whichever task is due next; `wait()` says how long until then.

    Like TaskDeck, it stays the list of the user's tasks for anything that reads it as one; only
    indexing by a single position (how `random.choice` takes an element) deals. A type's tasks start
    spread over one period, in declaration order (an upload before the reads and the delete it feeds),
    and keep that order: each is due at `start + (round + i / k) * period`. A task with a per-client
    limit is never due sooner than its shortest gap after its last run, even when the user is behind.
    """

    def __init__(self, tasks_and_periods: list[tuple], clock=time.monotonic) -> None:
        super().__init__(task for task, _ in tasks_and_periods)
        self._clock = clock
        start, count = clock(), len(tasks_and_periods)
        self._due = [(start + period * i / count, i, period, task)
                     for i, (task, period) in enumerate(tasks_and_periods)]
        heapq.heapify(self._due)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return super().__getitem__(index)
        due, order, period, task = self._due[0]
        gap = shortest_gap_s(task)
        heapq.heapreplace(self._due, (max(due + period, self._clock() + gap) if gap else due + period,
                                      order, period, task))
        return task

    def wait(self) -> float:
        """Seconds until the next task is due; 0 when it is overdue (the user catches up)."""
        return max(0.0, self._due[0][0] - self._clock())
