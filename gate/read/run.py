"""A run folder (Locust's JSON stats, failures CSV, the suite's metrics.json) read into plain data.

Everything that is malformed raises Unjudgeable with a reason naming the file and the field:
a gate that guesses around a broken file is a gate that passes broken runs.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from gate import Unjudgeable
from gate.read import fields
from gate.read.histogram import Histogram, bucket_width, histogram_from_buckets

STATS_FILE = "stats.json"
METRICS_FILE = "metrics.json"
FAILURES_FILE = "locust_failures.csv"
METRICS_SCHEMA = 1
# What schema 1 of metrics.json and Locust's --json-file entries must hold; a missing key is schema drift.
METRICS_KEYS = ("schema", "profile", "locust_version", "suite_version", "target", "settings", "started_at",
                "stopped_at", "cpu_warning", "counters", "machine")
TARGET_KEYS = ("host", "chat_transport", "stack_mode")
SETTINGS_KEYS = ("users", "spawn_rate", "run_time_s", "scale")
MACHINE_KEYS = ("cpu_count", "platform")
WORKERS_KEYS = ("count", "final_reports")
STATS_KEYS = ("name", "method", "last_request_timestamp", "start_time", "num_requests", "num_none_requests",
              "num_failures", "total_response_time", "max_response_time", "min_response_time",
              "total_content_length", "response_times", "num_reqs_per_sec", "num_fail_per_sec")
# Clock slack between the suite's start/stop stamps and Locust's own timestamps (s).
CLOCK_SLACK_S = 60.0
# Locust's name for the sum over all endpoints; the gate computes it (stats.json has no such row).
AGGREGATED = "Aggregated"


@dataclass(frozen=True)
class EndpointRecord:
    """What one endpoint (`METHOD name`) did in one run."""

    endpoint: str
    num_requests: int
    num_failures: int
    num_none_requests: int
    histogram: Histogram
    errors: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Run:
    """One run folder, read and validated."""

    path: str
    profile: str
    started_at: str
    duration_s: float
    planned_run_time_s: float | None
    cpu_warning: bool
    counters: dict[str, int]
    fingerprint: dict[str, object]
    endpoints: dict[str, EndpointRecord]
    errors_known: bool
    # distributed runs: workers whose final report never reached the master (their last requests are missing)
    workers_unreported: int = 0
    # the load generator's CPU over the run, percent of one core (metrics.json's generator; older runs lack it)
    generator_cpu_pct: float | None = None
    # the machine's CPU time that other VMs took while the load ran, percent (Linux's steal; None elsewhere)
    cpu_steal_pct: float | None = None

    @property
    def total_requests(self) -> int:
        return sum(record.num_requests for record in self.endpoints.values())


def read_run(path: str | Path) -> Run:
    folder = Path(path)
    if not folder.is_dir():
        raise Unjudgeable(f"run folder {folder} does not exist (did the load test run?)")
    metrics = fields.read_json(folder / METRICS_FILE, missing_hint="Locust did not finish cleanly (crash or kill?): "
                         "the suite writes it when Locust quits")
    stats = fields.read_json(folder / STATS_FILE, missing_hint="run Locust with --json-file stats")
    run_facts = _parse_metrics(metrics, folder / METRICS_FILE)
    window = (run_facts.pop("_started"), run_facts.pop("_stopped"))
    endpoints = _parse_stats(stats, folder / STATS_FILE, window)
    errors_known = (folder / FAILURES_FILE).is_file()
    if errors_known:
        errors_by_endpoint = _read_failures(folder / FAILURES_FILE)
        for endpoint, errors in errors_by_endpoint.items():
            if endpoint not in endpoints:
                raise Unjudgeable(f"{folder / FAILURES_FILE} lists failures of {endpoint}, which stats.json "
                                  "does not have (files of different runs?)")
        for endpoint, record in endpoints.items():
            errors = errors_by_endpoint.get(endpoint, {})
            if sum(errors.values()) != record.num_failures:
                raise Unjudgeable(f"{folder / FAILURES_FILE} counts {sum(errors.values())} failures of {endpoint} "
                                  f"but stats.json {record.num_failures} (files of different runs, or truncated?)")
            endpoints[endpoint] = replace(record, errors=errors)
    return Run(path=str(folder), endpoints=endpoints, errors_known=errors_known, **run_facts)


def check_judgeable(run: Run, profile: str, min_duration_fraction: float = 0.8) -> None:
    """Raises Unjudgeable when the run's own figures cannot be trusted, whatever they are compared with."""
    if run.profile != profile:
        raise Unjudgeable(
            f"{run.path} is a run of profile '{run.profile}', not '{profile}': check --profile or --run"
        )
    if run.total_requests == 0:
        raise Unjudgeable(
            f"{run.path} recorded zero requests: the target was unreachable or the suite sent nothing; "
            "see locust.log"
        )
    if run.cpu_warning:
        raise Unjudgeable(
            f"the load generator saturated its CPU during {run.path} (Locust's CPU warning): its latencies "
            "are untrustworthy; rerun with fewer users or on a bigger machine"
        )
    if run.workers_unreported:
        raise Unjudgeable(
            f"{run.workers_unreported} Locust worker(s) of {run.path} never sent their final report to the master "
            "(crashed, cut off, or slower to stop than --stop-timeout allows): its statistics miss their last "
            "requests; see locust.log"
        )
    if run.planned_run_time_s and run.duration_s < min_duration_fraction * run.planned_run_time_s:
        raise Unjudgeable(
            f"{run.path} stopped after {run.duration_s:.0f} s of a planned {run.planned_run_time_s:.0f} s: "
            "Locust stopped early or crashed; see locust.log"
        )


def _parse_metrics(metrics: object, path: Path) -> dict:
    metrics = fields.as_mapping(metrics, str(path))
    fields.require_keys(metrics, METRICS_KEYS, str(path))
    schema = metrics.get("schema")
    if type(schema) is not int or schema != METRICS_SCHEMA:
        raise Unjudgeable(f"{path}: schema {schema!r:.20} is not the {METRICS_SCHEMA} this gate reads "
                          "(suite and gate versions differ?)")
    profile = fields.as_text(metrics.get("profile"), f"{path}: profile")
    target = fields.as_mapping(metrics.get("target"), f"{path}: target")
    settings = fields.as_mapping(metrics.get("settings"), f"{path}: settings")
    machine = fields.as_mapping(metrics.get("machine"), f"{path}: machine")
    for section, keys, name in ((target, TARGET_KEYS, "target"), (settings, SETTINGS_KEYS, "settings"),
                                (machine, MACHINE_KEYS, "machine")):
        fields.require_keys(section, keys, f"{path}: {name}")
    if not re.fullmatch(r"(https?|wss?)://\S+", fields.as_text(target.get("host"), f"{path}: target.host")):
        raise Unjudgeable(f"{path}: target.host {target.get('host')!r:.60} is not a URL")
    for name in ("users", "cpu_count"):
        source = settings if name == "users" else machine
        if fields.as_count(source.get(name), f"{path}: {name}") < 1:
            raise Unjudgeable(f"{path}: {name} must be at least 1")
    for name in ("spawn_rate", "scale"):
        if fields.as_number(settings.get(name), f"{path}: settings.{name}") <= 0:
            raise Unjudgeable(f"{path}: settings.{name} must be positive")
    counters = {
        fields.as_text(name, f"{path}: counters key"): fields.as_count(value, f"{path}: counters.{name}")
        for name, value in fields.as_mapping(metrics.get("counters", {}), f"{path}: counters").items()
    }
    cpu_warning = metrics.get("cpu_warning")
    if not isinstance(cpu_warning, bool):
        raise Unjudgeable(f"{path}: cpu_warning should be true or false, got {cpu_warning!r:.20}")
    workers_unreported = 0
    if "workers" in metrics:  # a distributed run's master says how many workers sent their final report
        workers = fields.as_mapping(metrics.get("workers"), f"{path}: workers")
        fields.require_keys(workers, WORKERS_KEYS, f"{path}: workers")
        count = fields.as_count(workers.get("count"), f"{path}: workers.count")
        reported = fields.as_count(workers.get("final_reports"), f"{path}: workers.final_reports")
        if reported > count:
            raise Unjudgeable(f"{path}: workers.final_reports ({reported}) exceeds workers.count ({count})")
        workers_unreported = count - reported
    generator_cpu_pct = None
    if "generator" in metrics:  # the generator's own CPU: is the server, not the generator, the bottleneck?
        generator = fields.as_mapping(metrics.get("generator"), f"{path}: generator")
        fields.require_keys(generator, ("cpu_s", "wall_s"), f"{path}: generator")
        cpu_s = fields.as_number(generator.get("cpu_s"), f"{path}: generator.cpu_s")
        wall_s = fields.as_number(generator.get("wall_s"), f"{path}: generator.wall_s")
        if cpu_s < 0 or wall_s <= 0:
            raise Unjudgeable(f"{path}: generator.cpu_s must be 0 or more and generator.wall_s positive")
        generator_cpu_pct = cpu_s / wall_s * 100.0
    cpu_steal_pct = machine.get("cpu_steal_pct")
    if cpu_steal_pct is not None:
        cpu_steal_pct = fields.as_number(cpu_steal_pct, f"{path}: machine.cpu_steal_pct")
        if not 0 <= cpu_steal_pct <= 100:
            raise Unjudgeable(f"{path}: machine.cpu_steal_pct must be a percentage, got {cpu_steal_pct!r:.20}")
    started = fields.as_timestamp(metrics.get("started_at"), f"{path}: started_at")
    stopped = fields.as_timestamp(metrics.get("stopped_at"), f"{path}: stopped_at")
    duration_s = (stopped - started).total_seconds()
    if duration_s <= 0:
        raise Unjudgeable(f"{path}: stopped_at is not after started_at")
    run_time = settings.get("run_time_s")
    planned = None if run_time is None else fields.as_number(run_time, f"{path}: settings.run_time_s")
    if planned is not None and planned <= 0:
        raise Unjudgeable(f"{path}: settings.run_time_s must be positive")
    locust_version = fields.as_text(metrics.get("locust_version"), f"{path}: locust_version")
    fingerprint = {
        "profile": profile,
        "users": settings.get("users"),
        "spawn_rate": settings.get("spawn_rate"),
        "run_time_s": run_time,
        "scale": settings.get("scale"),
        "suite_version": fields.as_text(metrics.get("suite_version"), f"{path}: suite_version"),
        # patch releases of Locust do not change what is measured; minor releases may
        "locust_version": ".".join(locust_version.split(".")[:2]),
        "stack_mode": target.get("stack_mode"),
        "chat_transport": target.get("chat_transport"),
        "cpu_count": machine.get("cpu_count"),
        "platform": machine.get("platform"),
    }
    # every other setting of the profile (think time scale, ...) also decides what a run measures
    for name, value in settings.items():
        if name not in SETTINGS_KEYS:
            fingerprint[f"settings.{name}"] = value
    for name, value in fingerprint.items():
        if not isinstance(value, str | int | float | type(None)) or isinstance(value, float) and not math.isfinite(value):
            raise Unjudgeable(f"{path}: {name} should be a plain value, got {value!r:.40}")
    return {
        "profile": profile,
        "started_at": started.isoformat(),
        "duration_s": duration_s,
        "planned_run_time_s": planned,
        "cpu_warning": cpu_warning,
        "counters": counters,
        "workers_unreported": workers_unreported,
        "generator_cpu_pct": generator_cpu_pct,
        "cpu_steal_pct": cpu_steal_pct,
        "fingerprint": fingerprint,
        "_started": started.timestamp(),
        "_stopped": stopped.timestamp(),
    }


def _parse_stats(stats: object, path: Path, window: tuple[float, float]) -> dict[str, EndpointRecord]:
    """Locust's --json-file entries, checked for internal consistency (a response cannot outlast the run)."""
    if not isinstance(stats, list):
        raise Unjudgeable(f"{path} should be Locust's --json-file list of endpoints, got {type(stats).__name__}")
    started, stopped = window
    longest_ms = (stopped - started + CLOCK_SLACK_S) * 1000.0
    endpoints: dict[str, EndpointRecord] = {}
    for index, entry in enumerate(stats):
        where = f"{path}[{index}]"
        entry = fields.as_mapping(entry, where)
        fields.require_keys(entry, STATS_KEYS, where)
        endpoint = f"{fields.as_text(entry.get('method'), where + '.method')} {fields.as_text(entry.get('name'), where + '.name')}"
        where = f"{path}: {endpoint}"
        if endpoint in endpoints:
            raise Unjudgeable(f"{where} appears twice")
        num_requests = fields.as_count(entry["num_requests"], f"{where}: num_requests")
        num_failures = fields.as_count(entry["num_failures"], f"{where}: num_failures")
        num_none = fields.as_count(entry["num_none_requests"], f"{where}: num_none_requests")
        fields.as_count(entry["total_content_length"], f"{where}: total_content_length")
        if num_failures > num_requests or num_none > num_requests:
            raise Unjudgeable(f"{where}: more failures or timeless requests than requests")
        buckets = fields.response_time_buckets(entry["response_times"], f"{where}: response_times", longest_ms)
        histogram = histogram_from_buckets(buckets)
        if histogram.total != num_requests - num_none:
            raise Unjudgeable(
                f"{where}: the histogram holds {histogram.total} requests but num_requests - "
                f"num_none_requests = {num_requests - num_none} (corrupt or edited file)"
            )
        _check_times(entry, where, num_requests, histogram, longest_ms, window)
        for counts, limit in (("num_reqs_per_sec", num_requests), ("num_fail_per_sec", num_failures)):
            total = _per_second_total(fields.as_mapping(entry[counts], f"{where}: {counts}"), f"{where}: {counts}", window)
            if total != limit:
                raise Unjudgeable(f"{where}: {counts} adds up to {total}, not the {limit} counted")
        endpoints[endpoint] = EndpointRecord(
            endpoint=endpoint,
            num_requests=num_requests,
            num_failures=num_failures,
            num_none_requests=num_none,
            histogram=histogram,
        )
    return endpoints


def _per_second_total(per_second: dict, where: str, window: tuple[float, float]) -> int:
    """Checks Locust's {unix second: count} map (an hour holds 3,600 of them) and returns its total."""
    counts = list(per_second.values())
    if not all(type(count) is int for count in counts):  # bool, float, None: not a count
        raise Unjudgeable(f"{where}: per-second counts should be whole numbers")
    if not counts:
        return 0
    values = np.array(counts, dtype=object)
    if min(counts) < 0 or max(counts) > fields.MAX_COUNT:
        raise Unjudgeable(f"{where}: a per-second count is out of range")
    try:
        seconds = np.array([float(second) for second in per_second], dtype=float)
    except ValueError:
        raise Unjudgeable(f"{where}: a per-second key is not a time") from None
    started, stopped = window
    if not (np.all(np.isfinite(seconds)) and seconds.min() >= started - CLOCK_SLACK_S
            and seconds.max() <= stopped + CLOCK_SLACK_S):
        raise Unjudgeable(f"{where}: a per-second time lies outside the run (files of another run?)")
    return int(values.sum())


def _check_times(entry: dict, where: str, num_requests: int, histogram: Histogram, longest_ms: float,
                 window: tuple[float, float]) -> None:
    """The entry's own totals must agree with its histogram, as they do in every file Locust writes."""
    total = fields.as_number(entry["total_response_time"], f"{where}: total_response_time")
    largest = fields.as_number(entry["max_response_time"], f"{where}: max_response_time")
    smallest = entry["min_response_time"]
    timed = histogram.total
    if timed and smallest is None:
        raise Unjudgeable(f"{where}: min_response_time is null although {timed} requests were timed")
    smallest = 0.0 if smallest is None else fields.as_number(smallest, f"{where}: min_response_time")
    if min(total, largest, smallest) < 0 or largest > longest_ms or smallest > largest:
        raise Unjudgeable(f"{where}: response-time totals are impossible (negative, min above max, or longer "
                          "than the run)")
    if timed:
        low, high = float(histogram.values[0]), float(histogram.values[-1])
        if (not high - bucket_width(high) / 2 - 1 <= largest <= high + bucket_width(high) / 2 + 1
                or not low - bucket_width(low) / 2 - 1 <= smallest <= low + bucket_width(low) / 2 + 1
                or not smallest * timed * 0.99 - 1 <= total <= largest * timed * 1.01 + 1):
            raise Unjudgeable(f"{where}: min/max/total response times disagree with the histogram (corrupt or "
                              "edited file)")
    for name in ("start_time", "last_request_timestamp"):
        moment = entry[name]
        if moment is None and num_requests == 0:
            continue
        _second(fields.as_number(moment, f"{where}: {name}"), f"{where}: {name}", window)


def _second(moment: object, where: str, window: tuple[float, float]) -> None:
    try:
        value = float(moment)
    except (TypeError, ValueError):
        raise Unjudgeable(f"{where}: {moment!r:.20} is not a time") from None
    started, stopped = window
    if not (started - CLOCK_SLACK_S <= value <= stopped + CLOCK_SLACK_S):
        raise Unjudgeable(f"{where}: time {moment!r:.20} lies outside the run (files of another run?)")


def _read_failures(path: Path) -> dict[str, dict[str, int]]:
    import pandas as pd

    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise Unjudgeable(f"{path} is empty (Locust always writes its header): truncated?") from None
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise Unjudgeable(f"{path} cannot be read as Locust's failures CSV: {error}") from None
    missing = {"Method", "Name", "Error", "Occurrences"} - set(table.columns)
    if missing:
        raise Unjudgeable(f"{path} lacks the column(s) {', '.join(sorted(missing))} of Locust's failures CSV")
    errors: dict[str, dict[str, int]] = {}
    for method, name, error, occurrences in table[["Method", "Name", "Error", "Occurrences"]].itertuples(
        index=False
    ):
        count = int(occurrences) if occurrences.strip().isascii() and occurrences.strip().isdigit() else -1
        if count < 0 or count > fields.MAX_COUNT:
            raise Unjudgeable(f"{path}: occurrences {occurrences!r:.20} of {method} {name} is not a count")
        endpoint_errors = errors.setdefault(f"{method} {name}", {})
        endpoint_errors[str(error)] = endpoint_errors.get(str(error), 0) + count
    return errors
