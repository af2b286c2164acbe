"""Distributed load on Locust's own engine: what the master reports is what the workers sent.

A master and two worker processes on loopback, and the runner's --processes; each worker
writes a ledger of what it sent (requests, failures, custom counters) when it quits, and the
master's statistics and metrics.json must equal the sums.
"""

import json
import socket
import subprocess
import sys
from pathlib import Path

from scripts import layout

RUN = ["--users", "6", "--spawn-rate", "3", "--run-time", "20s", "--think-scale", "0.1"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def locust(*args: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "locust", "-f", str(layout.LOCUSTFILE), *args],
                            cwd=layout.SUITE, stdout=log.open("w"), stderr=subprocess.STDOUT)


def assert_master_equals_sum_of_workers(results: Path, workers: int) -> None:
    stats = json.loads((results / "stats.json").read_text())
    metrics = json.loads((results / "metrics.json").read_text())
    ledgers = [json.loads(path.read_text()) for path in sorted(results.glob("metrics.worker-*.json"))]
    assert len(ledgers) == workers, f"expected {workers} worker ledgers, found {len(ledgers)}"
    assert all(ledger["requests"] > 0 for ledger in ledgers), "a worker sent nothing"
    assert sum(e["num_requests"] for e in stats) == sum(ledger["requests"] for ledger in ledgers)
    assert sum(e["num_failures"] for e in stats) == sum(ledger["failures"] for ledger in ledgers)
    for name, total in metrics["counters"].items():
        assert total == sum(ledger["counters"][name] for ledger in ledgers), name
        assert all(ledger["unsent"][name] == 0 for ledger in ledgers), f"{name} counted after the last report"
    assert metrics["counters"]["queries_with_citations"] + metrics["counters"]["queries_without_citations"] > 0


def test_master_and_two_workers_on_loopback(embedded_stack, tmp_path):
    accounts = embedded_stack.accounts_file
    port = free_port()
    common = ["--accounts-file", str(accounts), "--metrics-file", str(tmp_path / "metrics.json")]
    master = locust(
        "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port), "--expect-workers", "2",
        "--headless", "--host", embedded_stack.base_url, *RUN, "--exit-code-on-error", "0",
        "--json-file", str(tmp_path / "stats"), *common, log=tmp_path / "master.log",
    )
    workers = [locust("--worker", "--master-host", "127.0.0.1", "--master-port", str(port), *common,
                      log=tmp_path / f"worker-{n}.log") for n in range(2)]
    try:
        assert master.wait(timeout=120) == 0, (tmp_path / "master.log").read_text()[-2000:]
        for worker in workers:
            worker.wait(timeout=60)
    finally:
        for process in (master, *workers):
            if process.poll() is None:
                process.kill()
    assert_master_equals_sum_of_workers(tmp_path, workers=2)


def test_runner_forks_workers_with_processes(embedded_stack, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "scripts.run", "smoke", "--stack", "external", "--host", embedded_stack.base_url,
         "--accounts", str(embedded_stack.accounts_file), "--processes", "2",
         "--users", "6", "--run-time", "20s", "--think-scale", "0.1", "--results", str(tmp_path), "--no-gate"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert_master_equals_sum_of_workers(tmp_path, workers=2)
