"""The seed's custom metrics, counted correctly in every Locust mode, and the run's metrics.json.

Counters are a fixed set of names (memory stays bounded over a soak). A worker ships its counts
to the master with each report and starts again from zero, so the master's sum is exact; a
standalone run keeps its own. When Locust quits, the master (or the standalone process) writes
metrics.json: the counters plus what the gate needs to know about the run.

A headless master also makes sure the workers' last requests reach it. Locust's master quits by
sending "quit" and waiting 0.5 s for the workers' last reports, and a worker only stops its users
(their on_stop: logouts, deleting uploads) on that "quit"; users slower than 0.5 s to stop sent
requests the master never counted. So when the master stops, this module asks each worker to quit
and waits, bounded, until every worker has sent the report it makes once its users have stopped.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import gevent
from locust.rpc import Message
from locust.runners import STATE_MISSING, STATE_STOPPED, MasterRunner, WorkerRunner

import locust
from cpu_steal import cpu_times, steal_pct

SCHEMA = 1
SUITE_VERSION = "0.1.0"
log = logging.getLogger(__name__)
REPORT_KEY = "voiceassist_counters"
FINAL_KEY = "voiceassist_final"  # in a worker's report: its users have stopped, nothing more will come
# How long a headless master waits for the workers' final reports beyond --stop-timeout (the time
# Locust gives users to finish): the users' on_stop requests and the report's trip on loopback or LAN.
FINAL_REPORT_GRACE_S = 30.0

COUNTERS = (
    "auth_failures",
    "rate_limit_hits",
    "ws_connections",
    "ws_failures",
    "document_uploads",
    "document_upload_failures",
    "queries_with_citations",
    "queries_without_citations",
)


class RunCounters:
    """The custom counters of one Locust process; only the known names are accepted."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._sent: Counter[str] = Counter()  # what a worker has shipped to the master so far
        self._lock = threading.Lock()

    def add(self, name: str, amount: int = 1) -> None:
        if name not in COUNTERS:
            raise KeyError(f"unknown counter {name!r}; known: {', '.join(COUNTERS)}")
        with self._lock:
            self._counts[name] += amount

    def merge(self, counts: dict[str, int]) -> None:
        with self._lock:
            for name, amount in counts.items():
                if name in COUNTERS and isinstance(amount, int):
                    self._counts[name] += amount

    def take(self) -> dict[str, int]:
        """The counts so far, leaving zero behind (what a worker sends to the master)."""
        with self._lock:
            counts = dict(self._counts)
            self._sent.update(self._counts)
            self._counts.clear()
        return counts

    def sent(self) -> dict[str, int]:
        with self._lock:
            return {name: self._sent.get(name, 0) for name in COUNTERS}

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {name: self._counts.get(name, 0) for name in COUNTERS}


counters = RunCounters()

# The load shape's phases, as the master (or standalone process) lived them: name, users, start
# and end in Unix seconds. A shape appends one entry a phase, so the list stays small.
phases: list[dict] = []


def _write_json(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n")
    os.replace(tmp, path)


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class RunRecord:
    """Wires the counters into Locust's events and writes metrics.json when Locust quits."""

    def __init__(self, environment) -> None:
        self.environment = environment
        self.started_at: str | None = None
        # facts other modules know best, read when the file is written: name -> value or callable
        self.facts: dict[str, object] = {}
        self.user_classes: dict[str, int] = {}
        self._cpu_at_start: tuple[float, float] | None = None
        self.generator: dict[str, float] = {}
        self._ticks_at_start: tuple[int, int] | None = None
        self.cpu_steal_pct: float | None = None  # the machine's CPU time other VMs took while the load ran
        self.spawn_complete_at: str | None = None
        # on a master: the workers whose final report arrived, and those it waited for when it stopped
        self.final_reports: set[str] = set()
        self.expected_workers: set[str] | None = None
        events = environment.events
        events.report_to_master.add_listener(self._on_report_to_master)
        events.worker_report.add_listener(self._on_worker_report)
        events.test_start.add_listener(self._on_test_start)
        events.test_stop.add_listener(self._on_test_stop)
        events.spawning_complete.add_listener(self._on_spawning_complete)
        events.quitting.add_listener(self._on_quitting)
        events.request.add_listener(self._on_request)
        # what this process itself sent, for the worker ledger (Locust resets a worker's own stats
        # after every report to the master)
        self.requests_sent = 0
        self.failures_sent = 0

    def _on_request(self, exception=None, **_kwargs) -> None:
        self.requests_sent += 1
        if exception is not None:
            self.failures_sent += 1

    def _on_report_to_master(self, client_id, data, **_kwargs) -> None:
        data[REPORT_KEY] = counters.take()
        data[FINAL_KEY] = self.environment.runner.state == STATE_STOPPED

    def _on_worker_report(self, client_id, data, **_kwargs) -> None:
        counters.merge(data.get(REPORT_KEY, {}))
        if data.get(FINAL_KEY):
            self.final_reports.add(client_id)

    def _on_test_start(self, environment, **_kwargs) -> None:
        self.started_at = self.started_at or _utc_now()
        self._cpu_at_start = (time.process_time(), time.monotonic())
        self._ticks_at_start = cpu_times()
        self.final_reports.clear()

    def _on_test_stop(self, environment, **_kwargs) -> None:
        runner = environment.runner
        if isinstance(runner, WorkerRunner):
            # The users have stopped (their on_stop requests included): report now, flagged final,
            # before the worker tells the master it has stopped or quit; the master reads a worker's
            # messages in order, so nothing the users sent is missing from its statistics.
            runner._send_stats()
        # this process's CPU while the load ran (start-up and report writing excluded)
        if self._cpu_at_start:
            cpu, wall = self._cpu_at_start
            self.generator = {"cpu_s": round(time.process_time() - cpu, 3),
                              "wall_s": round(time.monotonic() - wall, 3)}
            self.cpu_steal_pct = steal_pct(self._ticks_at_start, cpu_times())
        if isinstance(runner, MasterRunner) and environment.parsed_options.headless:
            self._collect_final_reports(runner)

    def _collect_final_reports(self, runner: MasterRunner) -> None:
        """Ask the workers still connected to quit and wait until each has sent its final report.

        Runs inside the master's stop, before Locust's own quit sends "quit" and waits its 0.5 s (a
        worker told "quit" twice quits once). Workers that already stopped on a "stop" message have
        reported and left; a worker that loses its connection is given up on, and so is the wait
        after --stop-timeout plus FINAL_REPORT_GRACE_S: metrics.json then says how many reported.
        """
        connected = {client.id for client in runner.clients.all if client.state != STATE_MISSING}
        # kept as a set, counted when metrics.json is written: Locust may end the process (its last
        # worker quit) while this wait is still polling
        self.expected_workers = connected | self.final_reports

        def still_waiting(client_id: str) -> bool:
            # a worker that has quit was read to the end (its final report came before its "quit");
            # one whose heartbeats stopped will send nothing more
            client = runner.clients.get(client_id)
            return client_id not in self.final_reports and client is not None and client.state != STATE_MISSING

        waiting = {client_id for client_id in connected if still_waiting(client_id)}
        current = gevent.getcurrent()
        if current in runner.greenlet and current is not runner.shape_greenlet:
            # stopping from one of the master's own loops (messages: its last worker quit): waiting
            # there would keep the reports from being read
            waiting = set()
        for client_id in waiting:
            runner.server.send_to_client(Message("quit", None, client_id))
        asked = time.monotonic()
        deadline = asked + (self.environment.stop_timeout or 0) + FINAL_REPORT_GRACE_S
        while waiting and time.monotonic() < deadline:
            gevent.sleep(0.1)
            waiting = {client_id for client_id in waiting if still_waiting(client_id)}
        workers = self.workers()
        if workers["final_reports"] < workers["count"]:
            log.error("%d of %d workers did not send their final report: the statistics miss their last requests",
                      workers["count"] - workers["final_reports"], workers["count"])
        else:
            log.info("all %d workers sent their final report (%.1f s after the stop)", workers["count"],
                     time.monotonic() - asked)

    def workers(self) -> dict[str, int]:
        expected = self.expected_workers or set()
        return {"count": len(expected), "final_reports": len(expected & self.final_reports)}

    def _on_spawning_complete(self, user_count, **_kwargs) -> None:
        # the most users of each type the run had at once (a shape spawns several times)
        for name, count in getattr(self.environment.runner, "user_classes_count", {}).items():
            self.user_classes[name] = max(self.user_classes.get(name, 0), count)
        self.spawn_complete_at = self.spawn_complete_at or _utc_now()

    def _on_quitting(self, environment, **_kwargs) -> None:
        options = environment.parsed_options
        if not getattr(options, "metrics_file", None):
            return
        path = Path(options.metrics_file)
        if isinstance(environment.runner, WorkerRunner):
            # each worker's own ledger beside the master's file: what it sent, to check the merge
            index = environment.runner.worker_index
            _write_json(path.with_name(f"{path.stem}.worker-{index}.json"), {
                "worker_index": index,
                "requests": self.requests_sent,
                "failures": self.failures_sent,
                "counters": counters.sent(),
                "unsent": counters.snapshot(),  # counted after the last report: lost to the master
            })
            return
        _write_json(path, self.document())

    def fact(self, name: str, default=None):
        value = self.facts.get(name, default)
        return value() if callable(value) else value

    def document(self) -> dict:
        options = self.environment.parsed_options
        runner = self.environment.runner
        cpu_warning = bool(
            getattr(runner, "cpu_warning_emitted", False) or getattr(runner, "worker_cpu_warning_emitted", False)
        )
        return {
            "schema": SCHEMA,
            "profile": options.profile or "adhoc",
            "locust_version": locust.__version__,
            "suite_version": SUITE_VERSION,
            "target": {
                "host": self.environment.host,
                "chat_transport": self.fact("chat_transport", "websocket"),
                "stack_mode": options.stack_mode,
            },
            "settings": {
                "users": options.num_users,
                "spawn_rate": options.spawn_rate,
                "run_time_s": options.run_time,
                "scale": options.scale,
                "think_scale": options.think_scale,
                "sample_target": options.sample_target,
                # only where it is set (paired rounds measuring denser): runs without it keep their fingerprint
                **({"model_sample_target": options.model_sample_target}
                   if getattr(options, "model_sample_target", 0) else {}),
            },
            "phases": phases,
            "user_classes": self.user_classes,
            "started_at": self.started_at,
            "spawn_complete_at": self.spawn_complete_at,
            "stopped_at": _utc_now(),
            "cpu_warning": cpu_warning,
            "generator": self.generator,
            "counters": counters.snapshot(),
            **({"workers": self.workers()} if self.expected_workers is not None else {}),
            "machine": {"cpu_count": os.cpu_count(), "platform": f"{platform.system()}-{platform.machine()}",
                        "cpu_steal_pct": self.cpu_steal_pct},
        }
