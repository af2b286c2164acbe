"""The upstream model emulator: an OpenAI-compatible API whose latency model is honoured (measured)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from stack.server import free_port, wait_for_http
from stack.upstream.latency import LatencyModel

BUNDLE = Path(__file__).resolve().parents[2]
FIRST_TOKEN_MS, TOKENS_PER_SECOND, ANSWER_TOKENS = 150.0, 100.0, 20


@pytest.fixture(scope="module")
def emulator():
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stack",
            "upstream",
            "--port",
            str(port),
            "--first-token-ms",
            str(FIRST_TOKEN_MS),
            "--tokens-per-second",
            str(TOKENS_PER_SECOND),
            "--answer-tokens",
            str(ANSWER_TOKENS),
            "--jitter",
            "0.1",
            "--seed",
            "7",
        ],
        cwd=BUNDLE,
    )
    try:
        assert wait_for_http(f"http://127.0.0.1:{port}/health", 20, process)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(10)


def timed_stream(base_url: str) -> tuple[float, float, int]:
    started = time.perf_counter()
    first = None
    tokens = 0
    body = {
        "model": "any",
        "stream": True,
        "messages": [{"role": "user", "content": "dose of amoxicillin for otitis"}],
    }
    with requests.post(f"{base_url}/chat/completions", json=body, stream=True, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if not line.startswith(b"data: ") or line == b"data: [DONE]":
                continue
            delta = json.loads(line[6:])["choices"][0]["delta"].get("content")
            if delta:
                tokens += 1
                first = first or time.perf_counter() - started
    return first, time.perf_counter() - started, tokens


def test_latency_model_is_honoured_within_10_percent_at_the_median(emulator):
    with ThreadPoolExecutor(4) as pool:
        samples = list(pool.map(lambda _: timed_stream(emulator), range(40)))
    first_token = statistics.median(s[0] for s in samples) * 1000
    tokens = statistics.median(s[2] for s in samples)
    total = statistics.median(s[1] for s in samples) * 1000
    expected_total = FIRST_TOKEN_MS + (ANSWER_TOKENS - 1) * 1000 / TOKENS_PER_SECOND
    assert abs(first_token - FIRST_TOKEN_MS) <= 0.1 * FIRST_TOKEN_MS, first_token
    assert abs(tokens - ANSWER_TOKENS) <= 0.1 * ANSWER_TOKENS, tokens
    assert abs(total - expected_total) <= 0.1 * expected_total, (total, expected_total)
    assert len({s[2] for s in samples}) > 1, "jitter varies the answer length"


def test_whole_completion_embeddings_and_models_for_any_openai_client(emulator):
    reply = requests.post(
        f"{emulator}/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "hello there"}]},
        timeout=10,
    )
    assert reply.status_code == 200
    body = reply.json()
    assert body["object"] == "chat.completion" and body["choices"][0]["message"]["content"]
    assert body["choices"][0]["finish_reason"] == "stop"

    vectors = requests.post(
        f"{emulator}/embeddings", json={"model": "e", "input": ["kidney", "kidney", "liver"]}, timeout=10
    ).json()["data"]
    assert len(vectors) == 3 and vectors[0]["embedding"] == vectors[1]["embedding"] != vectors[2]["embedding"]
    assert abs(sum(v * v for v in vectors[0]["embedding"]) - 1) < 1e-9
    assert requests.get(f"{emulator}/models", timeout=10).json()["data"][0]["id"]


def test_same_seed_same_timings():
    first, second = LatencyModel(seed=3), LatencyModel(seed=3)
    assert [first.sample() for _ in range(5)] == [second.sample() for _ in range(5)]
    assert LatencyModel(seed=4).sample() != LatencyModel(seed=3).sample()


def test_without_jitter_the_model_is_exact():
    timing = LatencyModel(first_token_ms=80, tokens_per_second=50, answer_tokens=11, jitter=0).sample()
    assert timing.tokens == 11 and timing.first_token_s == pytest.approx(0.08)
    assert timing.total_s == pytest.approx(0.08 + 10 * 0.02)
