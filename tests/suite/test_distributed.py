"""Distributed load on Locust's own engine: what the master reports is what the workers sent.

A master and two worker processes on loopback, and the runner's --processes; each worker
writes a ledger of what it sent (requests, failures, custom counters) when it quits, and the
master's statistics and metrics.json must equal the sums, however the run ends (run time, a load
shape) and however long the users take to stop.
"""

import json
import socket
import subprocess
import sys
from pathlib import Path

from scripts import layout
from tests.suite.slow_to_stop import slow_to_stop_locustfile

# 10 s: all six users in by 2 s, each worker sending for 8 s; what is checked is the sums, not the figures
RUN = ["--users", "6", "--spawn-rate", "3", "--run-time", "10s", "--think-scale", "0.1"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def assert_master_equals_sum_of_workers(results: Path, workers: int) -> None:
    stats = json.loads((results / "stats.json").read_text())
    metrics = json.loads((results / "metrics.json").read_text())
    ledgers = [json.loads(path.read_text()) for path in sorted(results.glob("metrics.worker-*.json"))]
    assert len(ledgers) == workers, f"expected {workers} worker ledgers, found {len(ledgers)}"
    assert metrics["workers"] == {"count": workers, "final_reports": workers}
    assert all(ledger["requests"] > 0 for ledger in ledgers), "a worker sent nothing"
    assert sum(e["num_requests"] for e in stats) == sum(ledger["requests"] for ledger in ledgers)
    assert sum(e["num_failures"] for e in stats) == sum(ledger["failures"] for ledger in ledgers)
    for name, total in metrics["counters"].items():
        assert total == sum(ledger["counters"][name] for ledger in ledgers), name
        assert all(ledger["unsent"][name] == 0 for ledger in ledgers), f"{name} counted after the last report"
    assert metrics["counters"]["queries_with_citations"] + metrics["counters"]["queries_without_citations"] > 0


SLOW_TO_STOP = slow_to_stop_locustfile("""
    gevent.sleep(2)  # far beyond the 0.5 s Locust's master waits for its workers' last reports
    self.client.get("/health", name="on_stop")
""")


def run_master_and_workers(locustfile: Path, host: str, results: Path, workers: int, *args: str,
                           common: tuple[str, ...] = ()) -> None:
    port = free_port()
    common = (*common, "--metrics-file", str(results / "metrics.json"))
    master = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", str(locustfile), "--master", "--master-bind-host", "127.0.0.1",
         "--master-bind-port", str(port), "--expect-workers", str(workers), "--headless", "--host", host, *args,
         "--exit-code-on-error", "0", "--json-file", str(results / "stats"), *common],
        cwd=layout.SUITE, stdout=(results / "master.log").open("w"), stderr=subprocess.STDOUT)
    processes = [master, *(
        subprocess.Popen([sys.executable, "-m", "locust", "-f", str(locustfile), "--worker", "--master-host",
                          "127.0.0.1", "--master-port", str(port), *common],
                         cwd=layout.SUITE, stdout=(results / f"worker-{n}.log").open("w"), stderr=subprocess.STDOUT)
        for n in range(workers))]
    try:
        assert master.wait(timeout=120) == 0, (results / "master.log").read_text()[-2000:]
        for worker in processes[1:]:
            worker.wait(timeout=60)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()


def test_the_master_counts_requests_users_send_while_stopping(embedded_stack, tmp_path):
    """Users whose on_stop takes 2 s: Locust's master alone would quit 0.5 s after telling the workers to."""
    locustfile = tmp_path / "slow_to_stop.py"
    locustfile.write_text(SLOW_TO_STOP)
    run_master_and_workers(locustfile, embedded_stack.base_url, tmp_path, 2,
                           "--users", "4", "--spawn-rate", "4", "--run-time", "4s")
    stats = {entry["name"]: entry for entry in json.loads((tmp_path / "stats.json").read_text())}
    assert stats["on_stop"]["num_requests"] == 4, (tmp_path / "master.log").read_text()[-2000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["workers"] == {"count": 2, "final_reports": 2}
    ledgers = [json.loads(path.read_text()) for path in sorted(tmp_path.glob("metrics.worker-*.json"))]
    assert sum(entry["num_requests"] for entry in stats.values()) == sum(ledger["requests"] for ledger in ledgers)


def test_master_and_two_workers_on_loopback(embedded_stack, tmp_path):
    run_master_and_workers(layout.LOCUSTFILE, embedded_stack.base_url, tmp_path, 2, *RUN,
                           common=("--accounts-file", str(embedded_stack.accounts_file)))
    assert_master_equals_sum_of_workers(tmp_path, workers=2)


def test_runner_forks_workers_with_processes(embedded_stack, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "scripts.run", "smoke", "--stack", "external", "--host", embedded_stack.base_url,
         "--accounts", str(embedded_stack.accounts_file), "--processes", "2",
         "--users", "6", "--run-time", "10s", "--think-scale", "0.1", "--results", str(tmp_path), "--no-gate"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert_master_equals_sum_of_workers(tmp_path, workers=2)


def test_a_load_shape_run_on_workers_ends_with_every_final_report(embedded_stack, tmp_path):
    """A shape ends the run from the master's shape loop, not from the run-time timer: same guarantee."""
    done = subprocess.run(
        [sys.executable, "-m", "scripts.run", "spike", "--stack", "external", "--host", embedded_stack.base_url,
         "--accounts", str(embedded_stack.accounts_file), "--processes", "2", "--scale", "0.05",
         # the spike shape at this scale: steady 5 s, spike 5 s, recovery to the end
         "--run-time", "20s", "--think-scale", "0.05", "--results", str(tmp_path), "--no-gate"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert_master_equals_sum_of_workers(tmp_path, workers=2)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert [phase["name"] for phase in metrics["phases"]][-1] == "recovery"
