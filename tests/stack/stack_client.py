"""An HTTP and WebSocket client of the live stack, with its own loopback client address."""

from __future__ import annotations

import itertools
import json
import random
import time

import requests
import websocket

_addresses = itertools.count(random.randrange(1, 200) * 1000)


def fresh_address() -> str:
    n = next(_addresses)
    return f"127.{100 + (n >> 16) % 100}.{(n >> 8) % 256}.{1 + n % 254}"


class ApiClient:
    def __init__(self, stack, address: str | None = None) -> None:
        self.stack = stack
        self.address = address or fresh_address()
        self.session = requests.Session()
        self.session.headers["X-Forwarded-For"] = self.address
        self.token: str | None = None

    def request(self, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        token = token if token is not None else self.token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.session.request(method, self.stack.base_url + path, headers=headers, timeout=30, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def login(self, role: str) -> dict:
        account = self.stack.accounts[role]
        response = self.post(
            "/api/auth/login", json={"email": account["email"], "password": self.stack.password}
        )
        assert response.status_code == 200, response.text
        pair = response.json()
        self.token = pair["access_token"]
        return pair

    def websocket(self, token: str | None = None, **query) -> websocket.WebSocket:
        token = token if token is not None else self.token
        params = "&".join(f"{k}={v}" for k, v in {"token": token, **query}.items() if v is not None)
        return websocket.create_connection(f"{self.stack.ws_url}/api/realtime/ws?{params}", timeout=15)


def receive_until_done(ws: websocket.WebSocket, limit: int = 500) -> list[dict]:
    """Frames of one answer, up to and including `message.done` or `error`."""
    frames = []
    for _ in range(limit):
        frame = json.loads(ws.recv())
        frames.append(frame)
        if frame["type"] in ("message.done", "error"):
            return frames
    raise AssertionError(f"no message.done within {limit} frames")


GUIDE = (
    "Hypertension management begins with lifestyle changes such as reduced sodium intake and exercise. "
    "First-line drugs include thiazide diuretics, ACE inhibitors and calcium channel blockers. "
) * 40


def assert_envelope(response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"success", "data", "error", "metadata", "timestamp"}
    assert body["success"] is True and body["error"] is None
    assert body["timestamp"].endswith("Z") and "version" in body["metadata"]
    return body["data"]


def upload(api: ApiClient, text: str = GUIDE, name: str = "guide.txt", **params) -> dict:
    response = api.post(
        "/api/admin/kb/documents",
        params={"title": "Hypertension guide", "source_type": "guideline", **params},
        files={"file": (name, text.encode(), "text/plain")},
    )
    return assert_envelope(response)


def in_one_window(period_s: int = 60, needed_s: float = 20.0) -> None:
    """Rate limits count in fixed windows aligned on the clock (as the gateway's limiter does): wait
    for the next window when this one ends too soon for a burst to land in it whole."""
    remaining = period_s - time.time() % period_s
    if remaining < needed_s:
        time.sleep(remaining + 0.05)
