"""The upstream model emulator: an OpenAI-compatible API that applies its latency model."""

from __future__ import annotations

import statistics

import pytest
import requests

from stack.upstream.bench import (
    ANSWER_TOKENS,
    FIRST_TOKEN_MS,
    TOKENS_PER_SECOND,
    expected_total_ms,
    running_emulator,
    sample_streams,
)
from stack.upstream.latency import LatencyModel


@pytest.fixture(scope="module")
def emulator():
    with running_emulator() as base_url:
        yield base_url


def test_streams_follow_the_latency_model(emulator):
    """The model is applied: never faster than configured (sleeps do not undershoot), the answer
    length at its median, jitter varying it. How close the medians come to the configured ones on
    this machine is measured by `python -m stack bench --upstream`, not asserted: timings in a test
    on a shared machine would fail with its load, not with the emulator."""
    samples = sample_streams(emulator, 4, 24)
    first_token = statistics.median(s[0] for s in samples) * 1000
    total = statistics.median(s[1] for s in samples) * 1000
    tokens = statistics.median(s[2] for s in samples)
    assert first_token >= 0.8 * FIRST_TOKEN_MS, first_token  # jitter's log-normal factor: median 1
    assert total >= 0.8 * expected_total_ms(FIRST_TOKEN_MS, TOKENS_PER_SECOND, ANSWER_TOKENS), total
    assert abs(tokens - ANSWER_TOKENS) <= 0.1 * ANSWER_TOKENS, tokens
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
