"""The emulator's HTTP API: `/v1/chat/completions` (streamed or whole), `/v1/embeddings`, `/v1/models`."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import time
import uuid

from fastapi import FastAPI
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel

from stack.upstream.latency import LatencyModel

EMBEDDING_DIMENSIONS = 64
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")
_FALLBACK_WORDS = [
    "the",
    "answer",
    "depends",
    "on",
    "the",
    "clinical",
    "context",
    "and",
    "current",
    "guidance",
]


class ChatMessage(BaseModel):
    role: str
    content: str | list | None = None


class ChatCompletionRequest(BaseModel):
    model: str = "voiceassist-emulated"
    messages: list[ChatMessage]
    stream: bool = False
    max_tokens: int | None = None


class EmbeddingRequest(BaseModel):
    model: str = "voiceassist-embedding"
    input: str | list[str]


def _vocabulary(messages: list[ChatMessage]) -> list[str]:
    """Answers reuse the prompt's words, so a grounded prompt yields a grounded-looking answer."""
    text = " ".join(m.content for m in messages if isinstance(m.content, str))
    return _WORD.findall(text) or _FALLBACK_WORDS


def embed(text: str) -> list[float]:
    """A deterministic bag-of-words hash embedding: similar texts get similar unit vectors."""
    vector = [0.0] * EMBEDDING_DIMENSIONS
    for word in _WORD.findall(text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        vector[digest[0] % EMBEDDING_DIMENSIONS] += 1.0 if digest[1] % 2 else -1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def create_upstream_app(model: LatencyModel | None = None) -> FastAPI:
    latency = model or LatencyModel.from_env()
    app = FastAPI(title="VoiceAssist upstream model emulator")
    app.state.latency = latency

    @app.get("/health")
    async def health() -> dict:
        return {"status": "healthy"}

    @app.get("/v1/models")
    async def models() -> dict:
        return {
            "object": "list",
            "data": [{"id": "voiceassist-emulated", "object": "model", "owned_by": "stack"}],
        }

    @app.post("/v1/chat/completions")
    async def chat_completions(request: ChatCompletionRequest):
        started = time.perf_counter()
        timing = latency.sample(request.max_tokens)
        vocabulary = _vocabulary(request.messages)
        words = [latency.choice(vocabulary) for _ in range(timing.tokens)]
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())

        def event(delta: dict, finish: str | None = None) -> str:
            chunk = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": request.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(chunk)}\n\n"

        async def until(offset_s: float) -> None:
            # Sleep to an absolute schedule so the per-token sleeps do not accumulate drift.
            remaining = started + offset_s - time.perf_counter()
            if remaining > 0:
                await asyncio.sleep(remaining)

        if not request.stream:
            await until(timing.total_s)
            return JSONResponse(
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": created,
                    "model": request.model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": " ".join(words)},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {
                        "prompt_tokens": len(vocabulary),
                        "completion_tokens": len(words),
                        "total_tokens": len(vocabulary) + len(words),
                    },
                }
            )

        async def stream():
            yield event({"role": "assistant", "content": ""})
            for index, word in enumerate(words):
                await until(timing.first_token_s + index * timing.token_interval_s)
                yield event({"content": word if index == 0 else " " + word})
            yield event({}, "stop")
            yield "data: [DONE]\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    @app.post("/v1/embeddings")
    async def embeddings(request: EmbeddingRequest) -> dict:
        inputs = [request.input] if isinstance(request.input, str) else request.input
        return {
            "object": "list",
            "model": request.model,
            "data": [
                {"object": "embedding", "index": i, "embedding": embed(text)} for i, text in enumerate(inputs)
            ],
            "usage": {
                "prompt_tokens": sum(len(t.split()) for t in inputs),
                "total_tokens": sum(len(t.split()) for t in inputs),
            },
        }

    return app
