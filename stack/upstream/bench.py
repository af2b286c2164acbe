"""Benchmark of the model emulator's latency model: configured medians against measured ones.

    python -m stack bench --upstream [--clients 4] [--requests 40]

A script that prints figures, not a test: it starts the emulator with a known model, streams
completions from it at a few concurrent clients, and prints the configured and the measured
medians of time to first token, answer length and total time, with their deviation (target:
within 10% at the median). The clients share the machine's cores with the emulator.
"""

from __future__ import annotations

import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import requests

from stack.server import start_emulator

# The model the bench starts the emulator with: slower than the default, so that the client's own
# overhead is a small part of what is measured.
FIRST_TOKEN_MS, TOKENS_PER_SECOND, ANSWER_TOKENS, JITTER, SEED = 150.0, 100.0, 20, 0.1, 7


@contextmanager
def running_emulator(first_token_ms: float = FIRST_TOKEN_MS, tokens_per_second: float = TOKENS_PER_SECOND,
                     answer_tokens: int = ANSWER_TOKENS, jitter: float = JITTER, seed: int = SEED):
    """The emulator on a free loopback port with this model; yields its OpenAI base URL, stops it at the end."""
    process, base_url = start_emulator(model_args=(
        "--first-token-ms", str(first_token_ms), "--tokens-per-second", str(tokens_per_second),
        "--answer-tokens", str(answer_tokens), "--jitter", str(jitter), "--seed", str(seed)))
    try:
        yield base_url
    finally:
        process.terminate()
        process.wait(10)


def timed_stream(base_url: str) -> tuple[float, float, int]:
    """One streamed completion: (seconds to the first token, seconds in all, tokens)."""
    started = time.perf_counter()
    first = None
    tokens = 0
    body = {"model": "any", "stream": True,
            "messages": [{"role": "user", "content": "dose of amoxicillin for otitis"}]}
    with requests.post(f"{base_url}/chat/completions", json=body, stream=True, timeout=30) as response:
        response.raise_for_status()
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            raise RuntimeError(f"not a stream: {response.headers.get('content-type')}")
        for line in response.iter_lines():
            if not line.startswith(b"data: ") or line == b"data: [DONE]":
                continue
            if json.loads(line[6:])["choices"][0]["delta"].get("content"):
                tokens += 1
                first = first or time.perf_counter() - started
    return first, time.perf_counter() - started, tokens


def sample_streams(base_url: str, clients: int, count: int) -> list[tuple[float, float, int]]:
    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(lambda _: timed_stream(base_url), range(count)))


def expected_total_ms(first_token_ms: float, tokens_per_second: float, answer_tokens: int) -> float:
    return first_token_ms + (answer_tokens - 1) * 1000 / tokens_per_second


def run_upstream_bench(clients: int = 4, count: int = 40) -> int:
    with running_emulator() as base_url:
        samples = sample_streams(base_url, clients, count)
    measured = {
        "first token (ms)": statistics.median(s[0] for s in samples) * 1000,
        "answer (tokens)": statistics.median(s[2] for s in samples),
        "total (ms)": statistics.median(s[1] for s in samples) * 1000,
    }
    configured = {
        "first token (ms)": FIRST_TOKEN_MS,
        "answer (tokens)": ANSWER_TOKENS,
        "total (ms)": expected_total_ms(FIRST_TOKEN_MS, TOKENS_PER_SECOND, ANSWER_TOKENS),
    }
    print(f"upstream emulator, {count} streamed completions at {clients} clients "
          f"(jitter {JITTER}, seed {SEED}); medians:")
    print(f"{'quantity':18} {'configured':>11} {'measured':>9} {'deviation':>10}")
    worst = 0.0
    for name, value in measured.items():
        deviation = (value - configured[name]) / configured[name] * 100
        worst = max(worst, abs(deviation))
        print(f"{name:18} {configured[name]:11.1f} {value:9.1f} {deviation:+9.1f}%")
    print(f"largest deviation {worst:.1f}% (target: within 10%)")
    return 0
