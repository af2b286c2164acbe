"""A document the target fails to index (HTTP 500): the admin keeps working, the failure counts once.

The reference stack is told to fail the indexing of every medium-sized upload (the suite names its
files guidance-<size>-<n>.txt); each admin user type runs alone, as the runner runs Locust. What
the stack answered 500 must be in stats.json, in locust_failures.csv as one error class and in
the document_upload_failures counter, once each, and the user's later tasks must still run.
"""

import csv
import json
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from scripts import profiles, run
from stack.sandbox import running_stack

MARKER = "guidance-medium-"
UPLOAD = ("POST", "/api/admin/kb/documents")
DASHBOARD = ("GET", "/api/admin/panel/summary")


@pytest.fixture(scope="module")
def failing_index_stack(tmp_path_factory):
    with running_stack("embedded", tmp_path_factory.mktemp("failing-index"),
                       {"VOICEASSIST_INJECT_INDEXING_FAILURE": MARKER}, seed={"admin": 1}) as stack:
        yield stack


def served(stack, method: str, route: str, status: str) -> int:
    """How many such replies the stack itself counted (its /metrics)."""
    text = requests.get(f"{stack.base_url}/metrics", timeout=10).text
    return int(sum(sample.value for family in text_string_to_metric_families(text)
                   for sample in family.samples
                   if sample.name == "http_requests_total" and sample.labels == {
                       "method": method, "route": route, "status": status}))


def run_alone(stack, module: str, user_class: str, folder: Path, run_time: str) -> Path:
    locustfile = folder / "one_admin.py"
    locustfile.write_text(f"import suite  # noqa: F401\nfrom {module} import {user_class}  # noqa: F401\n")
    (folder / "one-admin.conf").write_text(
        f"# one-admin: a lone {user_class}\nprofile = one-admin\nlocustfile = {locustfile}\n"
        f"users = 1\nspawn-rate = 1\nrun-time = {run_time}\nthink-scale = 0.02\n")
    profile = profiles.load("one-admin", folder)
    results = folder / "results"
    results.mkdir()
    target = run.Target(stack.base_url, "external")
    run.run_locust(run.locust_command(profile, target, results, stack.accounts_file), profile, target, results)
    return results


def read_csv(path: Path) -> list[dict]:
    with path.open() as stream:
        return list(csv.DictReader(stream))


def total_when_first_failed(history: list[dict], endpoint: tuple[str, str]) -> int:
    """The endpoint's requests so far at the first second the history shows a failed upload."""
    first = next(int(row["Timestamp"]) for row in history
                 if (row["Type"], row["Name"]) == UPLOAD and int(row["Total Failure Count"]) > 0)
    return max((int(row["Total Request Count"]) for row in history
                if (row["Type"], row["Name"]) == endpoint and int(row["Timestamp"]) <= first), default=0)


@pytest.mark.parametrize(("module", "user_class", "run_time"), [
    # the AdminUser's upload sizes are dealt from a deck: a medium one in every 6 uploads (~36 in 20 s)
    ("users", "AdminUser", "20s"),
    # a workflow round uploads small or medium at random: ~12 rounds in 30 s, all small 1 time in 4,000
    ("journeys", "AdminWorkflowUser", "30s"),
])
def test_an_admin_whose_upload_failed_to_index_keeps_working(failing_index_stack, tmp_path, module, user_class,
                                                             run_time):
    stack = failing_index_stack
    refused_before = served(stack, "POST", "/api/admin/kb/documents", "500")
    results = run_alone(stack, module, user_class, tmp_path, run_time)
    refused = served(stack, "POST", "/api/admin/kb/documents", "500") - refused_before
    assert refused > 0, "no upload was medium-sized: the test proved nothing"

    stats = {(entry["method"], entry["name"]): entry for entry in json.loads((results / "stats.json").read_text())}
    counters = json.loads((results / "metrics.json").read_text())["counters"]
    failures = [(row["Method"], row["Name"], row["Error"], int(row["Occurrences"]))
                for row in read_csv(results / "locust_failures.csv")]
    # counted once, everywhere, and nothing else failed because of it
    assert stats[UPLOAD]["num_failures"] == refused
    assert counters["document_upload_failures"] == refused
    assert len(failures) == 1 and failures[0][:2] == UPLOAD and failures[0][3] == refused, failures
    assert "INDEXING_FAILED" in failures[0][2], failures[0][2]
    assert sum(entry["num_failures"] for entry in stats.values()) == refused
    assert read_csv(results / "locust_exceptions.csv") == [], "a task raised"

    # the uploads that were indexed, and only those, were deleted again (in the tasks or on stop)
    indexed = stats[UPLOAD]["num_requests"] - refused
    assert counters["document_uploads"] == indexed > 0
    assert stats[("DELETE", "/api/admin/kb/documents/[id]")]["num_requests"] == indexed

    # the user's later tasks ran after its first failed upload
    history = read_csv(results / "locust_stats_history.csv")
    assert stats[DASHBOARD]["num_requests"] > total_when_first_failed(history, DASHBOARD)
    if user_class == "AdminWorkflowUser":
        # a round whose upload failed goes on to its other steps (all but the last round, cut by the run's end)
        assert stats[("GET", "/metrics")]["num_requests"] >= stats[UPLOAD]["num_requests"] - 1
