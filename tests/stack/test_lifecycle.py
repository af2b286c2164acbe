"""Start, stop, wait and the accounts commands, as a CI job or a developer runs them."""

from __future__ import annotations

import http.client
import json
import re
import socket
import time

import pytest
import requests
from stack_client import ApiClient, fresh_address, in_one_window
from stack_commands import embedded_env, free_port, processes_mentioning, run_stack, start_stack

from scripts import layout
from stack import server
from stack.sandbox import running_stack, service_storage


def test_start_on_a_taken_port_fails_with_one_line(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = start_stack(tmp_path, port, embedded_env(tmp_path / "data"))
    assert done.returncode != 0
    assert done.stderr.strip() == f"stack: port {port} on 127.0.0.1 is already in use"
    assert not (tmp_path / "pid").exists()


def test_unreachable_database_fails_with_one_line_and_leaves_nothing(tmp_path):
    port = free_port()
    env = embedded_env(
        tmp_path / "data", DATABASE_URL=f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    )
    done = start_stack(tmp_path, port, env, "--timeout", "60")
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stack: server exited with code 1")
    assert "is unreachable" in lines[0]
    assert not processes_mentioning(f"--port {port}")


def test_unreachable_redis_fails_with_one_line(tmp_path):
    env = embedded_env(tmp_path / "data", REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    done = start_stack(tmp_path, free_port(), env)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "stack: redis redis://127.0.0.1:" in lines[0] and "is unreachable" in lines[0]


def test_start_with_workers_then_stop_twice(tmp_path):
    port = free_port()
    pid_file = tmp_path / "pid"
    done = start_stack(tmp_path, port, embedded_env(tmp_path / "data"), "--workers", "2", "--timeout", "60")
    try:
        assert done.returncode == 0, done.stderr
        base_url = done.stdout.strip()
        assert base_url == f"http://127.0.0.1:{port}"
        assert run_stack("wait", "--url", base_url, "--timeout", "5").returncode == 0
        for _ in range(6):
            requests.get(base_url + "/health", timeout=5)
        metrics = requests.get(base_url + "/metrics", timeout=5).text
        served = [
            line
            for line in metrics.splitlines()
            if line.startswith('http_requests_total{method="GET",route="/health",status="200"}')
        ]
        assert served and float(served[0].split()[-1]) >= 7, "metrics aggregate every worker's requests"
    finally:
        stopped = run_stack("stop", "--pid-file", str(pid_file))
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not list((tmp_path / "data").glob("prometheus-*")), "the workers' metric files are removed"
    assert not processes_mentioning(f"--port {port}")
    again = run_stack("stop", "--pid-file", str(pid_file))
    assert again.returncode == 0 and "not running" in again.stdout


def test_an_idle_connection_outlives_the_suites_longest_pause(embedded_stack):
    """The keep-alive race: had the stack closed the connection after uvicorn's default 5 s, a POST sent just
    as it closes gets no reply ("HTTP 0"; the client retries only idempotent requests)."""
    longest_pause = max(float(high) for path in layout.SUITE.glob("*.py")
                        for high in re.findall(r"wait_range_s = \(\s*[\d.]+,\s*([\d.]+)\s*\)", path.read_text()))
    assert server.KEEP_ALIVE_S > 4 * longest_pause
    host, port = embedded_stack.base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    headers = {"X-Forwarded-For": fresh_address()}
    connection.request("GET", "/health", headers=headers)
    assert connection.getresponse().read()  # the whole reply read: nothing left on the socket
    time.sleep(6)  # past uvicorn's default keep-alive
    connection.sock.setblocking(False)
    with pytest.raises(BlockingIOError):  # open and quiet; b"" would be the server's close
        connection.sock.recv(1, socket.MSG_PEEK)
    connection.sock.setblocking(True)
    connection.request("GET", "/health", headers=headers)
    assert connection.getresponse().status == 200
    connection.close()


def test_wait_times_out_with_one_line():
    port = free_port()
    done = run_stack("wait", "--url", f"http://127.0.0.1:{port}", "--timeout", "1")
    assert done.returncode != 0
    assert done.stderr.strip() == f"stack: http://127.0.0.1:{port}/health did not answer 200 within 1 s"


def test_users_seed_is_idempotent_and_promote_changes_the_role(tmp_path):
    env = embedded_env(tmp_path / "data")
    args = [
        "users",
        "seed",
        "--prefix",
        "lt",
        "--regular",
        "2",
        "--power",
        "1",
        "--admin",
        "1",
        "--password",
        "pw-123456",
    ]
    first = run_stack(*args, env=env)
    second = run_stack(*args, env=env)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    accounts = json.loads(second.stdout)["accounts"]
    assert json.loads(first.stdout) == json.loads(second.stdout)
    assert [a["role"] for a in accounts] == ["user", "user", "user", "admin"]
    assert {a["kind"] for a in accounts} == {"regular", "power", "admin"}

    promoted = run_stack("users", "promote", accounts[0]["email"], "--role", "viewer", env=env)
    assert promoted.returncode == 0, promoted.stderr
    missing = run_stack("users", "promote", "nobody@example.com", "--role", "admin", env=env)
    assert (
        missing.returncode == 1
        and missing.stderr.strip() == "stack: no account with email nobody@example.com"
    )

    port = free_port()
    done = start_stack(tmp_path, port, env)
    try:
        assert done.returncode == 0, done.stderr
        login = requests.post(
            f"http://127.0.0.1:{port}/api/auth/login",
            json={"email": accounts[0]["email"], "password": "pw-123456"},
            timeout=10,
        )
        assert login.status_code == 200 and login.json()["role"] == "viewer"
    finally:
        run_stack("stop", "--pid-file", str(tmp_path / "pid"))


@pytest.mark.parametrize("spec", ["GET /x=30", "chat=+fast", "login=1/fortnight"])
def test_bad_settings_are_refused_at_start(tmp_path, spec):
    key = "VOICEASSIST_RATE_LIMITS" if spec.startswith("login") else "VOICEASSIST_INJECT_LATENCY"
    done = start_stack(tmp_path, free_port(), embedded_env(tmp_path / "data", **{key: spec}))
    assert done.returncode != 0 and len(done.stderr.strip().splitlines()) == 1


def test_workers_share_rate_limits_through_redis(tmp_path, services_env):
    with (
        service_storage("workers", services_env["postgres"], services_env["redis"]) as storage,
        running_stack("pg", tmp_path, storage, workers=2) as stack,
    ):
        api = ApiClient(stack)
        wrong = {"email": stack.accounts["user"]["email"], "password": "not-the-password"}
        in_one_window()
        statuses = [api.post("/api/auth/login", json=wrong).status_code for _ in range(11)]
        assert statuses == [401] * 10 + [429], "ten per minute in total, whichever worker answers"
        assert_revocation_reaches_every_worker(stack)


def test_embedded_workers_share_revocations_through_the_database(tmp_path):
    with running_stack("embedded", tmp_path, seed={"regular": 1}, workers=2) as stack:
        assert_revocation_reaches_every_worker(stack)


def assert_revocation_reaches_every_worker(stack) -> None:
    for _ in range(3):
        user = ApiClient(stack)
        user.login("user")
        assert user.post("/api/auth/logout").status_code == 200
        # Outside the session: a new connection each time, so that the requests spread over the workers.
        headers = {"Authorization": f"Bearer {user.token}", "X-Forwarded-For": user.address}
        statuses = [
            requests.get(f"{stack.base_url}/api/auth/me", headers=headers, timeout=10).status_code
            for _ in range(10)
        ]
        assert statuses == [401] * 10, "refused by every worker"


def test_an_unreachable_upstream_degrades_health_and_fails_chat_cleanly(tmp_path):
    upstream = {"OPENAI_BASE_URL": f"http://127.0.0.1:{free_port()}/v1"}
    with running_stack("embedded", tmp_path, upstream, seed={"regular": 1}) as stack:
        api = ApiClient(stack)
        detailed = api.get("/health/detailed")
        assert detailed.status_code == 503
        assert detailed.json()["status"] == "degraded"
        assert detailed.json()["components"]["upstream_llm"]["status"] == "unhealthy"
        assert detailed.json()["components"]["sqlite"]["status"] == "healthy"

        api.login("user")
        ws = api.websocket()
        try:
            json.loads(ws.recv())
            ws.send(json.dumps({"type": "message", "content": "anything"}))
            frame = json.loads(ws.recv())
            assert (
                frame["type"] == "error" and frame["error"]["code"] == "BACKEND_ERROR" and frame["messageId"]
            )
            ws.send(json.dumps({"type": "ping"}))
            assert json.loads(ws.recv())["type"] == "pong", "the socket stays open after a backend error"
        finally:
            ws.close()
        assert api.post("/api/chat", json={"message": "anything"}).status_code == 502
