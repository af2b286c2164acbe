"""X-Forwarded-For chooses the rate-limit bucket only when the peer is loopback (in-process, real app)."""

from __future__ import annotations

import asyncio

import httpx
from stack_client import in_one_window

from stack.app import create_app
from stack.settings import Settings


async def login_statuses(peer: str, data_dir) -> list[int]:
    settings = Settings.from_env({"VOICEASSIST_DATA_DIR": str(data_dir), "VOICEASSIST_BCRYPT_ROUNDS": "4"})
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://stack") as client,
    ):
        statuses = []
        for n in range(11):
            response = await client.post(
                "/api/auth/login",
                json={"email": "nobody@example.com", "password": "whatever1"},
                headers={"X-Forwarded-For": f"127.5.0.{n + 1}"},
            )
            statuses.append(response.status_code)
        return statuses


def test_a_remote_peer_cannot_choose_its_bucket(tmp_path):
    in_one_window()
    assert asyncio.run(login_statuses("203.0.113.9", tmp_path)) == [401] * 10 + [429]


def test_a_loopback_peer_can(tmp_path):
    assert asyncio.run(login_statuses("127.0.0.1", tmp_path)) == [401] * 11
