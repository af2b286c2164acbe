"""Every artefact of a run counts the same requests: the CSVs, the HTML report and stats.json.

The gate judges stats.json; a person opens locust_stats.csv or report.html. Users whose on_stop
sends its requests late (logouts, admins deleting their uploads) must be in all of them, in a
local run and on workers, with Locust started exactly as the runner starts it.
"""

import csv
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from scripts import layout, profiles, run
from tests.suite.slow_to_stop import slow_to_stop_locustfile

SLOW_TO_STOP = slow_to_stop_locustfile("""
    gevent.sleep(1.5)  # longer than Locust's 1-s CSV interval: the run ends right after these
    self.client.get("/health/detailed")
    self.client.get("/metrics")
    self.client.post("/api/auth/logout")  # no token: 401, a failure every report must count alike
""")
USERS = 4


def stats_json(results: Path) -> dict[tuple[str, str], tuple[int, int]]:
    return {(entry["method"], entry["name"]): (entry["num_requests"], entry["num_failures"])
            for entry in json.loads((results / "stats.json").read_text())}


def stats_csv(results: Path) -> dict[tuple[str, str], tuple[int, int]]:
    with (results / "locust_stats.csv").open() as stream:
        return {(row["Type"], row["Name"]): (int(row["Request Count"]), int(row["Failure Count"]))
                for row in csv.DictReader(stream)}


def last_history_rows(results: Path) -> dict[tuple[str, str], tuple[int, int]]:
    """The last row of each endpoint in locust_stats_history.csv (its totals at the end of the run)."""
    last: dict[tuple[str, str], tuple[int, int]] = {}
    with (results / "locust_stats_history.csv").open() as stream:
        for row in csv.DictReader(stream):
            last[(row["Type"], row["Name"])] = (int(row["Total Request Count"]), int(row["Total Failure Count"]))
    return last


def failures_csv(results: Path) -> dict[tuple[str, str, str], int]:
    with (results / "locust_failures.csv").open() as stream:
        return {(row["Method"], row["Name"], row["Error"]): int(row["Occurrences"]) for row in csv.DictReader(stream)}


def html_report_args(results: Path) -> dict:
    """The statistics report.html embeds for its page: `window.templateArgs = {...}`, parsed as JSON."""
    page = (results / "report.html").read_text()
    marker = "window.templateArgs = "
    start = page.index(marker) + len(marker)
    args, _ = json.JSONDecoder().raw_decode(page, start)
    return args


def slow_to_stop_profile(folder: Path, run_time: str) -> profiles.Profile:
    locustfile = folder / "slow_to_stop.py"
    locustfile.write_text(SLOW_TO_STOP)
    (folder / "slow-to-stop.conf").write_text(
        f"# slow-to-stop: users whose on_stop requests come last\nprofile = slow-to-stop\n"
        f"locustfile = {locustfile}\nusers = {USERS}\nspawn-rate = {USERS}\nrun-time = {run_time}\n")
    return profiles.load("slow-to-stop", folder)


def assert_reports_agree(results: Path) -> dict[tuple[str, str], tuple[int, int]]:
    """Every endpoint's requests and failures, the same in stats.json, the CSVs and report.html."""
    counted = stats_json(results)
    # the on_stop requests are there at all: else this test could not fail
    assert counted[("GET", "/metrics")] == (USERS, 0), counted
    assert counted[("POST", "/api/auth/logout")] == (USERS, USERS), counted
    total = tuple(map(sum, zip(*counted.values(), strict=True)))

    in_csv = stats_csv(results)
    assert in_csv.pop(("", "Aggregated")) == total
    assert in_csv == counted, "locust_stats.csv disagrees with stats.json"

    in_history = last_history_rows(results)
    assert in_history.pop(("", "Aggregated")) == total
    assert in_history == counted, "the last rows of locust_stats_history.csv disagree with stats.json"

    page = html_report_args(results)
    in_html = {(entry["method"] or "", entry["name"]): (entry["num_requests"], entry["num_failures"])
               for entry in page["requests_statistics"]}
    assert in_html.pop(("", "Aggregated")) == total
    assert in_html == counted, "report.html disagrees with stats.json"

    failed = failures_csv(results)
    assert failed == {(entry["method"], entry["name"], entry["error"]): entry["occurrences"]
                      for entry in page["failures_statistics"]}, "locust_failures.csv disagrees with report.html"
    for (method, name), (_, failures) in counted.items():
        assert sum(n for (m, e, _), n in failed.items() if (m, e) == (method, name)) == failures, (method, name)
    return counted


@pytest.mark.parametrize("processes", [1, 2])
def test_csv_html_and_stats_json_count_the_same_requests(embedded_stack, tmp_path, processes):
    profile = slow_to_stop_profile(tmp_path, run_time="4s")
    results = tmp_path / "results"
    results.mkdir()
    target = run.Target(embedded_stack.base_url, "external")
    run.run_locust(run.locust_command(profile, target, results, None, processes=processes), profile, target, results)
    assert_reports_agree(results)
    if processes > 1:
        assert json.loads((results / "metrics.json").read_text())["workers"] == {"count": 2, "final_reports": 2}


def test_a_run_ended_by_sigterm_reports_the_same_requests_everywhere(embedded_stack, tmp_path):
    """SIGTERM (the runner's overrun, a cancelled job): Locust quits before it stops the users."""
    profile = slow_to_stop_profile(tmp_path, run_time="60s")
    results = tmp_path / "results"
    results.mkdir()
    target = run.Target(embedded_stack.base_url, "external")
    with (results / "locust.log").open("w") as log:
        locust = subprocess.Popen(run.locust_command(profile, target, results, None), cwd=layout.SUITE,
                                  stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while stats_csv_total(results) < 2 * USERS and time.monotonic() < deadline:
            time.sleep(0.2)
        locust.send_signal(signal.SIGTERM)
        assert locust.wait(timeout=30) == 0, (results / "locust.log").read_text()[-2000:]
    finally:
        if locust.poll() is None:
            locust.kill()
    assert_reports_agree(results)


def stats_csv_total(results: Path) -> int:
    try:
        return stats_csv(results).get(("", "Aggregated"), (0, 0))[0]
    except (OSError, ValueError, KeyError, TypeError):  # not written yet, or being rewritten
        return 0
