"""Checked values of the JSON documents the gate reads (metrics.json, stats.json, baselines): each
reader raises Unjudgeable naming the file and the field; none guesses around a malformed value.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path

from gate import Unjudgeable

# Counts beyond this are not a load test, they are a corrupt file (and would overflow int64 sums).
MAX_COUNT = 10**12


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def read_json(path: Path, missing_hint: str) -> object:
    if not path.is_file():
        raise Unjudgeable(f"{path} is missing: {missing_hint}")
    try:
        text = path.read_text(encoding="utf-8")
        return json.loads(text, parse_constant=_reject_constant)
    except (OSError, UnicodeDecodeError) as error:
        raise Unjudgeable(f"{path} cannot be read: {error}") from None
    except (ValueError, RecursionError) as error:
        raise Unjudgeable(f"{path} is not valid JSON (truncated or corrupt?): {error}") from None


def as_count(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Unjudgeable(f"{where} should be a whole number, got {value!r:.40}")
    if value < 0 or value > MAX_COUNT:
        raise Unjudgeable(f"{where} is out of range: {value!r:.40}")
    return value


def as_number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Unjudgeable(f"{where} should be a finite number, got {value!r:.40}")
    return float(value)


def as_text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise Unjudgeable(f"{where} should be a non-empty string, got {value!r:.40}")
    return value


def as_mapping(value: object, where: str) -> dict:
    if not isinstance(value, dict):
        raise Unjudgeable(f"{where} should be an object, got {type(value).__name__}")
    return value


def as_timestamp(value: object, where: str) -> datetime:
    text = as_text(value, where)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Unjudgeable(f"{where} is not an ISO-8601 time: {text!r:.40}") from None
    if moment.tzinfo is None:
        raise Unjudgeable(f"{where} has no time zone: {text!r:.40}")
    return moment


def require_keys(section: dict, keys: tuple[str, ...], where: str) -> None:
    missing = [key for key in keys if key not in section]
    if missing:
        raise Unjudgeable(f"{where} lacks {', '.join(missing)} (schema drift: suite, Locust and gate versions "
                          "out of step?)")


def response_time_buckets(response_times: object, where: str, longest_ms: float) -> dict[float, int]:
    buckets: dict[float, int] = {}
    for key, count in as_mapping(response_times, where).items():
        try:
            value = float(key)
        except ValueError:
            raise Unjudgeable(f"{where}: response time {key!r:.20} is not a number") from None
        if not math.isfinite(value) or value < 0 or value > longest_ms:
            raise Unjudgeable(f"{where}: response time {key!r:.20} ms is impossible in this run")
        buckets[value] = buckets.get(value, 0) + as_count(count, f"{where}[{key!r:.20}]")
    return buckets
