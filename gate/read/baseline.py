"""Baselines (baselines/<profile>.json): several runs' histograms, counts and failures, their
fingerprint and provenance. Recording keeps every run separately so the run-to-run spread is
measured, not guessed.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from gate import Unjudgeable
from gate.read import fields
from gate.read.histogram import histogram_from_buckets
from gate.read.run import CLOCK_SLACK_S, EndpointRecord, Run

FINGERPRINT_KEYS = ("profile", "users", "spawn_rate", "run_time_s", "scale", "suite_version", "locust_version",
                    "stack_mode", "chat_transport", "cpu_count", "platform")

BASELINE_SCHEMA = 1
DEFAULT_KEEP = 5


def fingerprint_difference(expected: dict, actual: dict) -> str:
    """'users: 10 -> 20, locust_version: 2.47 -> 2.48', or '' when the fingerprints match."""
    names = sorted(set(expected) | set(actual))
    return ", ".join(
        f"{name}: {expected.get(name)!r} -> {actual.get(name)!r}"
        for name in names
        if not _same(expected.get(name), actual.get(name))
    )


def _same(expected: object, actual: object) -> bool:
    """Equal, and not merely because Python counts True as 1."""
    return isinstance(expected, bool) == isinstance(actual, bool) and expected == actual


def record_baseline(runs: list[Run], profile: str, commit: str | None = None,
                    recorded_at: str | None = None) -> dict:
    """A baseline document (plain JSON data) from runs that were already checked judgeable."""
    if not runs:
        raise Unjudgeable("record needs at least one --run folder")
    _check_same_fingerprint(runs[0].fingerprint, runs[1:], "the first run")
    return {
        "schema": BASELINE_SCHEMA,
        "profile": profile,
        "fingerprint": runs[0].fingerprint,
        "provenance": {
            "recorded_at": recorded_at or datetime.now(UTC).isoformat(timespec="seconds"),
            "commit": commit or current_commit(),
            "command": "python -m gate record",
        },
        "runs": [_run_document(run) for run in runs],
    }


def update_baseline(baseline: dict, runs: list[Run], keep: int = DEFAULT_KEEP, commit: str | None = None,
                    recorded_at: str | None = None) -> dict:
    """Adds runs to an existing baseline document, keeping the newest `keep` runs."""
    _check_same_fingerprint(baseline["fingerprint"], runs, "the baseline")
    updated = record_baseline(runs, baseline["profile"], commit, recorded_at)
    updated["provenance"]["first_recorded_at"] = baseline["provenance"].get(
        "first_recorded_at", baseline["provenance"].get("recorded_at")
    )
    updated["runs"] = (baseline["runs"] + updated["runs"])[-keep:]
    return updated


def write_baseline(document: dict, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, sort_keys=False) + "\n", encoding="utf-8")


def read_baseline_document(path: str | Path, profile: str) -> dict:
    """Reads and validates a baseline file; raises Unjudgeable with the command that records one."""
    path = Path(path)
    if not path.is_file():
        raise Unjudgeable(
            f"no baseline for profile '{profile}' at {path}; record one from 3 runs on the base branch: "
            f"make baseline PROFILE={profile} RUNS=3, or from existing run folders: "
            f"python -m gate record --profile {profile} --run results/{profile}-1 --run results/{profile}-2 "
            f"--run results/{profile}-3 --out {path}"
        )
    document = fields.read_json(path, missing_hint="")
    where = str(path)
    document = fields.as_mapping(document, where)
    if type(document.get("schema")) is not int or document.get("schema") != BASELINE_SCHEMA:
        raise Unjudgeable(f"{where}: schema {document.get('schema')!r:.20} is not {BASELINE_SCHEMA}; re-record it")
    if document.get("profile") != profile:
        raise Unjudgeable(f"{where} is the baseline of profile {document.get('profile')!r:.40}, not '{profile}'")
    fields.require_keys(document, ("schema", "profile", "fingerprint", "provenance", "runs"), where)
    fingerprint = fields.as_mapping(document.get("fingerprint"), f"{where}: fingerprint")
    fields.require_keys(fingerprint, FINGERPRINT_KEYS, f"{where}: fingerprint")
    fields.require_keys(fields.as_mapping(document.get("provenance"), f"{where}: provenance"), ("recorded_at", "commit"),
             f"{where}: provenance")
    runs = document.get("runs")
    if not isinstance(runs, list) or not runs:
        raise Unjudgeable(f"{where} holds no runs; re-record it")
    return document


def baseline_runs(document: dict, path: str | Path) -> list[Run]:
    """The baseline's runs as Run values (same shape as a freshly read run folder)."""
    runs = [_run_from_document(entry, document, f"{path}: runs[{index}]")
            for index, entry in enumerate(document["runs"])]
    if len({tuple(sorted(run.counters)) for run in runs}) > 1:
        raise Unjudgeable(f"{path}: the runs count different custom metrics (corrupt or hand-merged); re-record it")
    return runs


def current_commit() -> str:
    if os.environ.get("GITHUB_SHA"):
        return os.environ["GITHUB_SHA"]
    try:
        completed = subprocess.run(["git", "rev-parse", "HEAD"], check=False, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return completed.stdout.strip() if completed.returncode == 0 else "unknown"


def _check_same_fingerprint(expected: dict, runs: list[Run], what: str) -> None:
    for run in runs:
        difference = fingerprint_difference(expected, run.fingerprint)
        if difference:
            raise Unjudgeable(f"{run.path} is not comparable with {what} ({difference}): "
                              "record runs of the same profile settings, versions and machine class")


def _run_document(run: Run) -> dict:
    return {
        "source": run.path,
        "started_at": run.started_at,
        "duration_s": run.duration_s,
        "counters": run.counters,
        "endpoints": {
            endpoint: {
                "num_requests": record.num_requests,
                "num_failures": record.num_failures,
                "num_none_requests": record.num_none_requests,
                "response_times": {
                    _bucket_key(value): count
                    for value, count in zip(record.histogram.values.tolist(), record.histogram.counts.tolist())
                },
                "errors": record.errors,
            }
            for endpoint, record in run.endpoints.items()
        },
    }


def _bucket_key(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


RUN_KEYS = ("source", "started_at", "duration_s", "counters", "endpoints")
ENDPOINT_KEYS = ("num_requests", "num_failures", "num_none_requests", "response_times", "errors")


def _run_from_document(entry: object, document: dict, where: str) -> Run:
    """One baseline run, held to the same invariants as a run folder (a baseline is evidence too)."""
    entry = fields.as_mapping(entry, where)
    fields.require_keys(entry, RUN_KEYS, where)
    duration = fields.as_number(entry["duration_s"], f"{where}: duration_s")
    planned = document["fingerprint"].get("run_time_s")
    shortest, longest = 1.0, 30 * 86400.0
    if isinstance(planned, int | float) and not isinstance(planned, bool) and planned > 0:
        shortest, longest = 0.5 * planned, planned + 600.0
    if not shortest <= duration <= longest:
        raise Unjudgeable(f"{where}: duration_s {duration:g} does not fit the profile's run time; re-record it")
    fields.as_timestamp(entry["started_at"], f"{where}: started_at")
    longest_ms = (duration + CLOCK_SLACK_S) * 1000.0
    endpoints = {}
    for endpoint, figures in fields.as_mapping(entry["endpoints"], f"{where}: endpoints").items():
        at = f"{where}: {endpoint}"
        figures = fields.as_mapping(figures, at)
        fields.require_keys(figures, ENDPOINT_KEYS, at)
        errors = {
            str(error): fields.as_count(count, f"{at}: errors")
            for error, count in fields.as_mapping(figures["errors"], f"{at}: errors").items()
        }
        record = EndpointRecord(
            endpoint=endpoint,
            num_requests=fields.as_count(figures["num_requests"], f"{at}: num_requests"),
            num_failures=fields.as_count(figures["num_failures"], f"{at}: num_failures"),
            num_none_requests=fields.as_count(figures["num_none_requests"], f"{at}: num_none_requests"),
            histogram=histogram_from_buckets(fields.response_time_buckets(figures["response_times"], f"{at}: response_times",
                                                      longest_ms)),
            errors=errors,
        )
        if (record.num_failures > record.num_requests
                or record.histogram.total != record.num_requests - record.num_none_requests
                or sum(errors.values()) != record.num_failures):
            raise Unjudgeable(f"{at}: counts do not add up (corrupt baseline); re-record it")
        endpoints[endpoint] = record
    if not any(record.num_requests for record in endpoints.values()):
        raise Unjudgeable(f"{where}: a baseline run without requests (corrupt baseline); re-record it")
    return Run(
        path=fields.as_text(entry["source"], f"{where}: source"),
        profile=document["profile"],
        started_at=str(entry["started_at"]),
        duration_s=duration,
        planned_run_time_s=None,
        cpu_warning=False,
        counters={str(k): fields.as_count(v, f"{where}: counters") for k, v in
                  fields.as_mapping(entry["counters"], f"{where}: counters").items()},
        fingerprint=document["fingerprint"],
        endpoints=endpoints,
        errors_known=True,
    )
