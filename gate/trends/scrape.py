"""Sampling the target's process memory from its /metrics during a soak: the one part of the trend
analyses that touches the network.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

# The scraper's hard ceiling, whatever it is asked: a forgotten scraper must end by itself.
SCRAPE_MAX_S = 6 * 3600.0


def scrape_metrics(url: str, out: Path, every_s: float = 5.0, duration_s: float | None = None,
                   until_file: str | None = None, clock=time.monotonic, sleep=time.sleep) -> int:
    """Samples the target's process gauges every `every_s` seconds into `out` (CSV, flushed per row)
    until `until_file` exists or `duration_s` has passed (never beyond SCRAPE_MAX_S). A scrape that
    fails (target not up yet, or gone) is skipped, not fatal. Returns the rows written."""
    import requests

    from gate.trends.drift import MEMORY_COLUMNS, parse_process_metrics

    every_s = max(0.5, float(every_s))
    limit_s = min(SCRAPE_MAX_S, duration_s if duration_s is not None else SCRAPE_MAX_S)
    started = clock()
    rows = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=MEMORY_COLUMNS)
        writer.writeheader()
        for tick in range(int(limit_s / every_s) + 1):  # bounded in count as well as in time
            if until_file and Path(until_file).exists():
                break
            try:
                response = requests.get(url, timeout=min(5.0, every_s))
                gauges = parse_process_metrics(response.text) if response.status_code == 200 else {}
            except (requests.RequestException, ValueError):
                gauges = {}
            if "rss_bytes" in gauges:
                writer.writerow({"time": round(time.time(), 3), **gauges})
                handle.flush()
                rows += 1
            next_at = started + (tick + 1) * every_s
            if next_at - started > limit_s:
                break
            sleep(max(0.0, next_at - clock()))
    return rows
