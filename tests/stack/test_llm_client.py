"""The chat path's client of an OpenAI-compatible upstream: what it yields, and how it fails."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from stack.llm import UpstreamError, stream_completion


def collect(base_url: str) -> list[str]:
    async def run() -> list[str]:
        async with httpx.AsyncClient(timeout=5) as client:
            return [
                d
                async for d in stream_completion(
                    client, base_url, "key", "m", [{"role": "user", "content": "q"}]
                )
            ]

    return asyncio.run(run())


def test_deltas_are_yielded_until_done(httpserver):
    body = (
        'data: {"choices": [{"delta": {"role": "assistant", "content": ""}}]}\n\n'
        'data: {"choices": [{"delta": {"content": "Hello"}}]}\n\n'
        ": keep-alive comment\n\n"
        'data: {"choices": [{"delta": {"content": " world"}}]}\n\n'
        "data: [DONE]\n\n"
        'data: {"choices": [{"delta": {"content": "after done"}}]}\n\n'
    )
    httpserver.expect_request("/v1/chat/completions", method="POST").respond_with_data(
        body, content_type="text/event-stream"
    )
    assert collect(httpserver.url_for("/v1")) == ["Hello", " world"]


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [(500, "boom", "upstream answered 500"), (200, "data: {not json\n\n", "unreadable event")],
)
def test_failures_are_upstream_errors(httpserver, status, body, message):
    httpserver.expect_request("/v1/chat/completions").respond_with_data(body, status=status)
    with pytest.raises(UpstreamError, match=message):
        collect(httpserver.url_for("/v1"))
