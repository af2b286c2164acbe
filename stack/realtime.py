"""The realtime chat WebSocket `/api/realtime/ws?token=...` and its frame protocol (contract § Realtime)."""

from __future__ import annotations

import json
import uuid

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from stack.auth import user_for_token
from stack.chat import ConversationNotFound, answer_events
from stack.timestamps import iso, utcnow
from stack.tokens import InvalidToken

router = APIRouter(tags=["realtime"])

POLICY_VIOLATION = 1008


def _error(code: str, message: str, message_id: str | None = None) -> dict:
    frame = {"type": "error", "error": {"code": code, "message": message}}
    if message_id:
        frame["messageId"] = message_id
    return frame


@router.websocket("/api/realtime/ws")
async def realtime(websocket: WebSocket) -> None:
    await websocket.accept()
    token = websocket.query_params.get("token")
    try:
        if not token:
            raise InvalidToken("missing token")
        user, _ = await user_for_token(websocket, token)
    except InvalidToken:
        await websocket.send_json(_error("UNAUTHORIZED", "Invalid or missing access token"))
        await websocket.close(code=POLICY_VIOLATION)
        return

    attached = websocket.query_params.get("conversationId")
    await websocket.send_json(
        {
            "type": "connected",
            "clientId": str(uuid.uuid4()),
            "timestamp": iso(utcnow()),
            "protocolVersion": "1.0",
            "capabilities": ["text_streaming"],
        }
    )
    try:
        while True:
            raw = await websocket.receive_text()
            try:
                frame = json.loads(raw)
                kind = frame.get("type") if isinstance(frame, dict) else None
            except json.JSONDecodeError:
                await websocket.send_json(_error("INVALID_MESSAGE", "Frame is not valid JSON"))
                continue
            if kind == "ping":
                await websocket.send_json({"type": "pong", "timestamp": iso(utcnow())})
            elif kind == "message":
                content = frame.get("content")
                if not isinstance(content, str) or not content.strip():
                    await websocket.send_json(
                        _error("INVALID_MESSAGE", "A message needs non-empty 'content'")
                    )
                    continue
                conversation_id = frame.get("session_id") or frame.get("conversationId") or attached
                try:
                    async for event in answer_events(
                        websocket.app.state, user, content, conversation_id, "ws"
                    ):
                        await websocket.send_json(event)
                except ConversationNotFound:
                    await websocket.send_json(
                        _error("NOT_FOUND", f"Conversation {conversation_id!r} not found")
                    )
            else:
                await websocket.send_json(_error("UNKNOWN_MESSAGE_TYPE", f"Unknown message type: {kind!r}"))
    except WebSocketDisconnect:
        return
