"""The chat path: retrieve KB passages, ask the upstream model (streaming), cite the documents.

One generator of events serves both channels, the realtime WebSocket and the seed's REST
`POST /api/chat`, so that they cost and behave the same.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from stack import conversations, metrics, retrieval
from stack.auth import CurrentUser
from stack.llm import UpstreamError, stream_completion
from stack.regression import wait_at_least
from stack.timestamps import iso, utcnow

router = APIRouter(tags=["chat"])

SYSTEM_PROMPT = (
    "You are VoiceAssist, a clinical knowledge assistant. Answer from the passages below and cite "
    "their titles. If they do not answer the question, say so."
)


class ConversationNotFound(Exception):
    pass


@dataclass
class Answer:
    message_id: str
    content: list[str] = field(default_factory=list)
    citations: list[dict] = field(default_factory=list)

    def done(self) -> dict:
        return {
            "id": self.message_id,
            "role": "assistant",
            "content": "".join(self.content),
            "citations": self.citations,
            "timestamp": iso(utcnow()),
        }


def _prompt(question: str, passages: list[retrieval.Passage]) -> list[dict]:
    context = "\n\n".join(f"[{p.title}]\n{p.content}" for p in passages) or "(no passages found)"
    return [
        {"role": "system", "content": f"{SYSTEM_PROMPT}\n\nPassages:\n{context}"},
        {"role": "user", "content": question},
    ]


async def retrieve(state, question: str) -> list[retrieval.Passage]:
    async with state.engine.connect() as conn:
        key = f"{await retrieval.generation(conn)}:{' '.join(retrieval.query_terms(question))}"
    cached = await state.cache.get("retrieval", key)
    if cached is not None:
        return [retrieval.Passage(**p) for p in cached]
    passages = await retrieval.search(state.engine, question, state.settings.retrieval_top_k)
    await state.cache.put("retrieval", key, [retrieval.passage_to_json(p) for p in passages])
    return passages


async def answer_events(
    state, user: dict, question: str, conversation_id: str | None, channel: str
) -> AsyncIterator[dict]:
    """Events in the WebSocket's vocabulary: user_message.created?, chunk*, then message.done or error.

    Raises ConversationNotFound before anything is emitted when the conversation is not the user's.
    """
    started = time.perf_counter()
    message_id = str(uuid.uuid4())
    if conversation_id:
        async with state.engine.begin() as conn:
            if await conversations.owned(conn, conversation_id, user["id"]) is None:
                raise ConversationNotFound(conversation_id)
            stored = await conversations.add_message(conn, conversation_id, "user", question)
        yield {"type": "user_message.created", "messageId": stored["id"], "conversationId": conversation_id}

    slowdown = state.settings.injected_latency.chat
    if slowdown is not None and slowdown.unit == "ms":
        await wait_at_least(slowdown.delay_s(0))

    answer = Answer(message_id)
    try:
        passages = await retrieve(state, question)
        metrics.RETRIEVED_CHUNKS.observe(len(passages))
        answer.citations = retrieval.citations(passages)
        if not state.settings.openai_base_url:
            raise UpstreamError("no upstream model configured (OPENAI_BASE_URL)")
        async for delta in stream_completion(
            state.upstream_client,
            state.settings.openai_base_url,
            state.settings.openai_api_key,
            state.settings.chat_model,
            _prompt(question, passages),
        ):
            if not answer.content:
                metrics.CHAT_FIRST_CHUNK.labels(channel).observe(time.perf_counter() - started)
            answer.content.append(delta)
            yield {"type": "chunk", "messageId": message_id, "content": delta}
    except (UpstreamError, SQLAlchemyError) as exc:
        # The answer fails, the conversation does not: the socket stays open for the next question.
        metrics.CHAT_ERRORS.labels(channel, "BACKEND_ERROR").inc()
        yield {
            "type": "error",
            "messageId": message_id,
            "error": {"code": "BACKEND_ERROR", "message": str(exc).splitlines()[0][:300]},
        }
        return

    if slowdown is not None and slowdown.unit == "%":
        await wait_at_least(slowdown.delay_s(time.perf_counter() - started))
    done = answer.done()
    if conversation_id:
        async with state.engine.begin() as conn:
            await conversations.add_message(
                conn, conversation_id, "assistant", done["content"], done["citations"]
            )
    metrics.CHAT_ANSWER.labels(channel).observe(time.perf_counter() - started)
    yield {"type": "message.done", "messageId": message_id, "message": done}


class ChatRequest(BaseModel):
    message: str = Field(min_length=1, max_length=10_000)
    session_id: str | None = None


@router.post("/api/chat")
async def chat(body: ChatRequest, request: Request, user: CurrentUser) -> dict:
    """The seed's REST chat: the same answer as the WebSocket, returned whole."""
    started = time.perf_counter()
    done = None
    try:
        async for event in answer_events(request.app.state, user, body.message, body.session_id, "rest"):
            if event["type"] == "error":
                raise HTTPException(502, event["error"]["message"])
            if event["type"] == "message.done":
                done = event["message"]
    except ConversationNotFound:
        raise HTTPException(404, f"Conversation {body.session_id!r} not found") from None
    return {
        "answer": done["content"],
        "citations": done["citations"],
        "message_id": done["id"],
        "session_id": body.session_id,
        "timestamp": done["timestamp"],
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
    }
