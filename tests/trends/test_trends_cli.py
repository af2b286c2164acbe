"""`python -m gate.trends` end to end on run folders: exit 0/1/2, trends.json, trends.md with Mermaid,
PNGs; malformed input is exit 2 with one line, never a traceback. And the /metrics scraper."""

from __future__ import annotations

import json
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from trend_data import FIXTURES, START, aggregated_frame, memory_frame, trends_command, write_run_folder

from gate.trends.history import append_record, synthetic_history
from gate.trends.scrape import scrape_metrics

SPIKE_PHASES = [
    {"name": "steady", "users": 50, "start": START, "end": START + 60},
    {"name": "spike", "users": 100, "start": START + 60, "end": START + 90},
    {"name": "recovery", "users": 50, "start": START + 90, "end": None},
]


def soak_folder(tmp_path, mb_per_hour: float, ms_per_min: float = 0.0):
    rng = np.random.default_rng(0)
    seconds = np.arange(240)
    frame = aggregated_frame(300 + ms_per_min * seconds / 60 + rng.normal(0, 15, 240))
    return write_run_folder(tmp_path / "soak", [frame], memory=memory_frame(mb_per_hour))


def test_soak_with_a_leak_fails_with_its_report(tmp_path):
    folder = soak_folder(tmp_path, mb_per_hour=900)
    done = trends_command("soak", "--run", str(folder), "--policy", "/nonexistent.yml")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.splitlines()[0] == "FAIL"
    trends = json.loads((folder / "trends.json").read_text())
    assert trends["kind"] == "soak" and trends["memory"]["drifting"] is True
    markdown = (folder / "trends.md").read_text()
    assert "```mermaid\nxychart-beta" in markdown and "RSS grew" in markdown
    assert {"soak-p95.png", "soak-rss.png"} <= {path.name for path in folder.glob("*.png")}
    assert (folder / "soak-rss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unchanged_soak_passes(tmp_path):
    done = trends_command("soak", "--run", str(soak_folder(tmp_path, mb_per_hour=0)), "--policy", "/nonexistent.yml")
    assert done.returncode == 0, done.stdout


def test_policy_trends_section_overrides_the_limits(tmp_path):
    policy = tmp_path / "policy.yml"
    policy.write_text("trends:\n  soak:\n    rss_mb_per_hour: 2000\n")
    done = trends_command("soak", "--run", str(soak_folder(tmp_path, mb_per_hour=900)), "--policy", str(policy))
    assert done.returncode == 0, done.stdout
    limits = tmp_path / "trends.yml"
    limits.write_text("trends:\n  soak:\n    rss_mb_per_hour: 50\n")
    done = trends_command("soak", "--run", str(soak_folder(tmp_path, mb_per_hour=900)), "--policy", str(policy),
                          "--limits", str(limits))
    assert done.returncode == 1, done.stdout  # --limits wins over the policy's section
    policy.write_text("trends:\n  soak:\n    rss_mb_per_hr: 2000\n")
    done = trends_command("soak", "--run", str(soak_folder(tmp_path, mb_per_hour=900)), "--policy", str(policy))
    assert done.returncode == 2 and "unknown key(s) rss_mb_per_hr" in done.stdout


def test_spike_never_recovering_fails_and_recovering_passes(tmp_path):
    p95 = np.full(180, 200.0)
    p95[60:] = 900.0
    users = np.where((np.arange(180) >= 60) & (np.arange(180) < 90), 100, 50)
    folder = write_run_folder(tmp_path / "slow", [aggregated_frame(p95, users=users)], SPIKE_PHASES, profile="spike")
    done = trends_command("spike", "--run", str(folder), "--policy", "/nonexistent.yml")
    assert done.returncode == 1 and "never recovered" in done.stdout
    assert (folder / "spike-recovery.png").is_file()
    p95[105:] = 200.0
    folder = write_run_folder(tmp_path / "fine", [aggregated_frame(p95, users=users)], SPIKE_PHASES, profile="spike")
    done = trends_command("spike", "--run", str(folder), "--policy", "/nonexistent.yml")
    assert done.returncode == 0, done.stdout
    assert json.loads((folder / "trends.json").read_text())["recovery_s"] == 15


def test_stress_uses_the_gate_policy_slos(tmp_path):
    phases, frames = [], []
    for index, users in enumerate((10, 20, 30, 40)):
        start = START + index * 30
        phases.append({"name": f"stage {index + 1}: {users} users", "users": users, "start": start, "end": start + 30})
        frames.append(aggregated_frame(np.full(30, 300.0 + 10 * users), users=users, rps=users, start=start))
        login = 1500.0 if users >= 30 else 500.0  # the policy's SLO for logins is p95 < 1000 ms
        frames.append(aggregated_frame(np.full(30, login), users=users, rps=1, start=start)
                      .assign(endpoint="POST /api/auth/login"))
    folder = write_run_folder(tmp_path / "stress", frames, phases, profile="stress")
    done = trends_command("stress", "--run", str(folder))
    assert done.returncode == 0, done.stdout
    trends = json.loads((folder / "trends.json").read_text())
    assert trends["capacity_stage_users"] == 20 and trends["slo_p95_ms"]["POST /api/auth/login"] == 1000.0
    assert trends["capacity_users"] == 25.0  # login p95 at 50% of its limit at 20 users, 150% at 30
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"kind": "stress", "capacity_users": 40, "knee_users": None}))
    done = trends_command("stress", "--run", str(folder), "--baseline", str(baseline), "--out", str(tmp_path / "o"))
    assert done.returncode == 1 and "capacity users 25 vs baseline 40" in done.stdout


@pytest.mark.parametrize("damage", ["no-folder", "garbage-csv", "no-phases", "bad-json", "cpu-warning"])
def test_broken_input_is_exit_2_with_one_line(tmp_path, damage):
    folder = write_run_folder(tmp_path / "run", [aggregated_frame(np.full(60, 200.0))], SPIKE_PHASES)
    if damage == "no-folder":
        folder = tmp_path / "missing"
    elif damage == "garbage-csv":
        (folder / "locust_stats_history.csv").write_text("\x00\x01 not a csv\n")
    elif damage == "no-phases":
        write_run_folder(folder, [aggregated_frame(np.full(60, 200.0))], [])
    elif damage == "cpu-warning":
        metrics = json.loads((folder / "metrics.json").read_text())
        (folder / "metrics.json").write_text(json.dumps({**metrics, "cpu_warning": True}))
    else:
        (folder / "metrics.json").write_text("{truncated")
    done = trends_command("spike", "--run", str(folder))
    assert done.returncode == 2
    assert done.stdout.startswith("CANNOT JUDGE: ") and len(done.stdout.splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_history_append_and_analyze(tmp_path):
    pytest.importorskip("otava.analysis", reason="apache-otava is not installed (pip install --no-deps apache-otava)")
    history = tmp_path / "soak.jsonl"
    for record in synthetic_history(120, ((40, 0.20), (85, 0.15)), seed=2):
        append_record(history, record)
    out = tmp_path / "report"
    done = trends_command("history", "analyze", "--history", str(history), "--out", str(out))
    assert done.returncode == 1, done.stdout  # new change points for the worse: open the issue
    report = json.loads((out / "trends.json").read_text())
    assert {abs(p["index"] - 40) <= 1 or abs(p["index"] - 85) <= 1 for p in report["new"]} == {True}
    markdown = (out / "trends.md").read_text()
    assert markdown.startswith("<!-- perf-gate-nightly-change-points -->") and "xychart-beta" in markdown
    again = trends_command("history", "analyze", "--history", str(history), "--out", str(tmp_path / "again"),
                           "--known", str(out / "trends.json"))
    assert again.returncode == 0, again.stdout  # the same change points are not news
    short = tmp_path / "short.jsonl"
    for record in synthetic_history(5):
        append_record(short, record)
    assert trends_command("history", "analyze", "--history", str(short), "--out", str(out)).returncode == 2


def test_history_append_from_a_real_run_folder(tmp_path):
    folder = tmp_path / "soak-unchanged"
    shutil.copytree(FIXTURES / "soak-unchanged", folder)
    assert trends_command("soak", "--run", str(folder)).returncode == 0  # its trends.json gives the slopes
    history = tmp_path / "soak.jsonl"
    done = trends_command("history", "append", "--run", str(folder), "--history", str(history),
                          "--commit", "abc123", "--date", "2026-11-26T02:00:00Z")
    assert done.returncode == 0, done.stdout
    record = json.loads(history.read_text())
    assert record["commit"] == "abc123" and record["metrics"]["Aggregated"]["p95"] > 0
    assert record["drift"]["rss_mb_per_hour"] is not None


class _Metrics(BaseHTTPRequestHandler):
    rss = 100_000_000

    def do_GET(self):  # http.server calls it by this name
        _Metrics.rss += 1_000_000
        body = f"# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {_Metrics.rss}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_scraper_samples_until_told_to_stop(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Metrics)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
        stop = tmp_path / "stop"
        timer = threading.Timer(2.2, stop.touch)
        timer.start()
        started = time.monotonic()
        rows = scrape_metrics(url, tmp_path / "memory.csv", every_s=0.5, duration_s=30, until_file=str(stop))
        assert time.monotonic() - started < 20  # stopped by the file, long before its 30-s duration
        assert 2 <= rows <= 7
        lines = (tmp_path / "memory.csv").read_text().splitlines()
        assert lines[0] == "time,rss_bytes,virtual_bytes,open_fds" and len(lines) == rows + 1
        # a target that is down is skipped, and the duration bounds the scraper
        assert scrape_metrics("http://127.0.0.1:9/metrics", tmp_path / "none.csv", every_s=0.5, duration_s=1.0) == 0
    finally:
        server.shutdown()
