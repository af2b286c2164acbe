"""Client of an OpenAI-compatible chat-completions API (the emulator, or a hosted model), streaming."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx


class UpstreamError(Exception):
    pass


async def stream_completion(
    client: httpx.AsyncClient, base_url: str, api_key: str, model: str, messages: list[dict]
) -> AsyncIterator[str]:
    """Yield the text deltas of one streamed completion (server-sent events, `data: [DONE]` last)."""
    payload = {"model": model, "messages": messages, "stream": True}
    headers = {"Authorization": f"Bearer {api_key}"}
    try:
        async with client.stream(
            "POST", f"{base_url}/chat/completions", json=payload, headers=headers
        ) as response:
            if response.status_code != 200:
                detail = (await response.aread())[:200].decode(errors="replace")
                raise UpstreamError(f"upstream answered {response.status_code}: {detail}")
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                try:
                    event = json.loads(data)
                except ValueError as exc:
                    raise UpstreamError(f"upstream sent an unreadable event: {data[:100]!r}") from exc
                for choice in event.get("choices", []):
                    delta = (choice.get("delta") or {}).get("content")
                    if delta:
                        yield delta
    except httpx.HTTPError as exc:
        raise UpstreamError(f"upstream unreachable: {type(exc).__name__}: {exc}") from exc
