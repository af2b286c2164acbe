"""Injected slowdowns: the named route (or the chat path) slows by the configured amount, nothing else;
and injected indexing failures: only the marked KB upload fails."""

from __future__ import annotations

import json
import statistics
import time

import pytest
import uvloop
from stack_client import GUIDE, ApiClient, assert_envelope, receive_until_done

from stack.regression import Slowdown, parse_injected_latency, wait_at_least
from stack.sandbox import running_stack


def test_parse_rules():
    injected = parse_injected_latency("GET /api/auth/me=+30%; chat=+150ms\nPOST /api/chat=25ms")
    assert injected.for_route("GET", "/api/auth/me") == Slowdown(30, "%")
    assert injected.for_route("POST", "/api/chat") == Slowdown(25, "ms")
    assert injected.for_route("GET", "/health") is None
    assert injected.chat == Slowdown(150, "ms")
    assert Slowdown(30, "%").delay_s(0.2) == pytest.approx(0.06)
    with pytest.raises(ValueError, match="cannot read"):
        parse_injected_latency("GET /api/auth/me=slow")


@pytest.fixture(scope="module")
def slowed_stack(tmp_path_factory):
    """An embedded stack like the session's, with /api/auth/me and the chat path slowed."""
    injected = {"VOICEASSIST_INJECT_LATENCY": "GET /api/auth/me=+400ms; chat=+600ms"}
    with running_stack("embedded", tmp_path_factory.mktemp("slowed"), injected, seed={"regular": 1}) as stack:
        yield stack


def median_ms(api: ApiClient, path: str, count: int = 9) -> float:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        assert api.get(path).status_code == 200
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def first_chunk_ms(api: ApiClient) -> float:
    ws = api.websocket()
    try:
        json.loads(ws.recv())
        started = time.perf_counter()
        ws.send(json.dumps({"type": "message", "content": "warfarin monitoring"}))
        first = None
        for frame in receive_until_done(ws):
            if frame["type"] == "chunk" and first is None:
                first = (time.perf_counter() - started) * 1000
        assert first is not None, "the answer streamed"
        return first
    finally:
        ws.close()


def test_only_the_named_route_and_chat_are_slowed(slowed_stack, embedded_stack):
    """Bounds that hold on a loaded machine: an injected sleep is a floor, and it is set well above
    what an unslowed request takes even on a busy 2-core runner."""
    slowed, normal = ApiClient(slowed_stack), ApiClient(embedded_stack)
    slowed.login("user")
    normal.login("user")
    assert median_ms(slowed, "/api/auth/me") >= 400
    assert median_ms(normal, "/api/auth/me") < 400
    assert median_ms(slowed, "/api/conversations") < 400, "other routes are not slowed"
    assert statistics.median(first_chunk_ms(slowed) for _ in range(3)) >= 600
    assert statistics.median(first_chunk_ms(normal) for _ in range(3)) < 600


@pytest.fixture(scope="module")
def failing_index_stack(tmp_path_factory):
    injected = {"VOICEASSIST_INJECT_INDEXING_FAILURE": "[fail-index]"}
    with running_stack("embedded", tmp_path_factory.mktemp("failing-index"), injected, seed={"admin": 1}) as stack:
        yield stack


def test_a_marked_upload_fails_to_index_with_a_500_envelope_and_leaves_nothing(failing_index_stack):
    admin = ApiClient(failing_index_stack)
    admin.login("admin")

    def upload(title: str):
        return admin.post("/api/admin/kb/documents", params={"title": title},
                          files={"file": ("guide.txt", GUIDE.encode(), "text/plain")})

    failed = upload("guide [fail-index] 1")
    assert failed.status_code == 500, failed.text
    assert failed.json()["success"] is False and failed.json()["error"]["code"] == "INDEXING_FAILED"
    assert assert_envelope(admin.get("/api/admin/kb/documents"))["total"] == 0
    indexed = assert_envelope(upload("guide 2"))
    listing = assert_envelope(admin.get("/api/admin/kb/documents"))
    assert [d["document_id"] for d in listing["documents"]] == [indexed["document_id"]]


@pytest.mark.parametrize("seconds", [0.00047, 0.00064, 0.00126, 0.0032])
def test_an_injected_delay_lasts_its_size_under_uvloop(seconds):
    """uvloop's timers count whole milliseconds from the loop's cached time: one asyncio.sleep(0.00126)
    lasts about 1.1 ms there, one asyncio.sleep(0.00064) about 1.07 ms. The injected delay is its size:
    never less, and its shortest of 50 not a third of a millisecond more (a busy machine only adds to
    some of them; the shortest stays what the code waits)."""

    async def lengths() -> list[float]:
        measured = []
        for _ in range(50):
            started = time.perf_counter()
            await wait_at_least(seconds)
            measured.append(time.perf_counter() - started)
        return measured

    measured = uvloop.run(lengths())
    assert min(measured) >= seconds
    assert min(measured) < seconds + 0.0003
