"""Every row of the contract table (docs/voiceassist-api.md), against the live stack in both modes."""

from __future__ import annotations

import json
import uuid

import pytest
from stack_client import GUIDE, assert_envelope, receive_until_done, upload

USER_FIELDS = {"id", "email", "full_name", "is_active", "is_admin", "admin_role", "created_at", "last_login"}
TOKEN_FIELDS = {"access_token", "refresh_token", "token_type", "expires_in", "refresh_expires_in", "role"}


def test_register_creates_a_plain_user_and_refuses_a_duplicate(client):
    email = f"new-{uuid.uuid4().hex[:8]}@example.com"
    created = client.post(
        "/api/auth/register", json={"email": email, "password": "password123", "full_name": "N"}
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert set(user) == USER_FIELDS
    assert user["email"] == email and user["admin_role"] == "user" and user["is_admin"] is False
    again = client.post(
        "/api/auth/register", json={"email": email, "password": "password123", "full_name": "N"}
    )
    assert again.status_code == 400 and again.json() == {"detail": "Email already registered"}


def test_login_returns_the_token_pair_with_role(client, stack):
    pair = client.login("admin")
    assert set(pair) == TOKEN_FIELDS
    assert pair["token_type"] == "bearer" and pair["expires_in"] == 300 and pair["refresh_expires_in"] == 3600
    assert pair["role"] == "admin"
    bad = client.post(
        "/api/auth/login", json={"email": stack.accounts["admin"]["email"], "password": "wrong-pass"}
    )
    assert bad.status_code == 401


def test_access_token_claims(user_client, stack):
    import jwt

    claims = jwt.decode(user_client.token, stack.jwt_secret, algorithms=["HS256"])
    assert claims["type"] == "access" and claims["role"] == "user"
    assert claims["email"] == stack.accounts["user"]["email"]
    assert claims["exp"] - claims["iat"] == 300


def test_me_returns_the_bare_user(user_client, stack):
    response = user_client.get("/api/auth/me")
    assert response.status_code == 200
    assert set(response.json()) == USER_FIELDS
    assert response.json()["email"] == stack.accounts["user"]["email"]
    assert response.json()["last_login"] is not None


def test_refresh_returns_a_new_pair(client):
    pair = client.login("user")
    response = client.post("/api/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert response.status_code == 200, response.text
    assert set(response.json()) == TOKEN_FIELDS
    assert client.get("/api/auth/me", token=response.json()["access_token"]).status_code == 200


def test_logout_answers_message_and_detail(client):
    client.login("user")
    response = client.post("/api/auth/logout")
    assert response.status_code == 200
    assert set(response.json()) == {"message", "detail"}


def test_health(client):
    body = client.get("/health").json()
    assert body["status"] == "healthy" and body["version"] and body["timestamp"].endswith("Z")


def test_health_detailed_checks_each_component_with_latency(client, stack):
    response = client.get("/health/detailed")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "healthy" and body["environment"] and body["version"]
    expected = (
        {"postgres", "redis", "upstream_llm"} if stack.mode == "pg" else {"sqlite", "memory", "upstream_llm"}
    )
    assert set(body["components"]) == expected
    for component in body["components"].values():
        assert component["status"] == "healthy" and component["latency_ms"] >= 0


def test_conversations_create_list_and_page(user_client):
    created = assert_envelope(user_client.post("/api/conversations", json={"title": "Contract test"}), 201)
    assert created["id"] and created["title"] == "Contract test"
    listing = assert_envelope(user_client.get("/api/conversations", params={"page": 1, "pageSize": 50}))
    assert set(listing) >= {"items", "total", "page", "pageSize"} and listing["pageSize"] == 50
    mine = next(item for item in listing["items"] if item["id"] == created["id"])
    assert (
        set(mine) >= {"id", "title", "messageCount", "createdAt", "updatedAt"} and mine["messageCount"] == 0
    )


def test_conversations_are_private_to_their_owner(user_client, admin_client):
    created = assert_envelope(user_client.post("/api/conversations", json={"title": "private"}), 201)
    listing = assert_envelope(admin_client.get("/api/conversations", params={"pageSize": 100}))
    assert created["id"] not in {item["id"] for item in listing["items"]}
    assert admin_client.get(f"/api/sessions/{created['id']}/export/markdown").status_code == 404


def test_markdown_export(user_client):
    created = assert_envelope(user_client.post("/api/conversations", json={"title": "Exported"}), 201)
    response = user_client.get(f"/api/sessions/{created['id']}/export/markdown")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/markdown")
    assert response.text.startswith("# Exported")


def test_kb_upload_list_get_delete(admin_client, viewer_client):
    uploaded = upload(admin_client)
    assert (
        uploaded["status"] == "indexed"
        and uploaded["chunks_indexed"] > 1
        and uploaded["title"] == "Hypertension guide"
    )
    document_id = uploaded["document_id"]

    listing = assert_envelope(viewer_client.get("/api/admin/kb/documents", params={"skip": 0, "limit": 100}))
    assert listing["total"] >= 1
    entry = next(d for d in listing["documents"] if d["document_id"] == document_id)
    assert set(entry) >= {"document_id", "title", "source_type", "upload_date", "chunks_indexed"}
    assert entry["source_type"] == "guideline"

    one = assert_envelope(viewer_client.get(f"/api/admin/kb/documents/{document_id}"))
    assert one["document_id"] == document_id and one["chunks_indexed"] == uploaded["chunks_indexed"]

    deleted = assert_envelope(admin_client.delete(f"/api/admin/kb/documents/{document_id}"))
    assert deleted == {"document_id": document_id, "status": "deleted"}
    gone = viewer_client.get(f"/api/admin/kb/documents/{document_id}")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "NOT_FOUND"
    again = admin_client.delete(f"/api/admin/kb/documents/{document_id}")
    assert again.status_code == 404 and again.json()["success"] is False


def test_kb_upload_accepts_txt_and_pdf(admin_client):
    assert (
        upload(admin_client, "plain text about asthma inhalers " * 50, name="asthma.txt")["chunks_indexed"]
        >= 1
    )
    pdf = _one_page_pdf("Insulin dosing for type 1 diabetes")
    response = admin_client.post(
        "/api/admin/kb/documents",
        params={"title": "PDF"},
        files={"file": ("insulin.pdf", pdf, "application/pdf")},
    )
    assert assert_envelope(response)["chunks_indexed"] == 1


@pytest.mark.parametrize(
    ("name", "content_type"), [("guide.md", "text/markdown"), ("guide.md", "text/plain"), ("guide.docx", None)]
)
def test_kb_upload_refuses_other_file_types_as_the_gateway_does(admin_client, viewer_client, name, content_type):
    """The gateway's rule and reply, word for word: a suite that uploads what it refuses must fail here."""
    before = assert_envelope(viewer_client.get("/api/admin/kb/documents", params={"limit": 1}))["total"]
    response = admin_client.post(
        "/api/admin/kb/documents",
        params={"title": "Markdown guide", "source_type": "guideline"},
        files={"file": (name, GUIDE.encode(), content_type)},
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) >= {"success", "data", "error", "metadata", "timestamp"} and body["success"] is False
    assert body["error"]["code"] == "VALIDATION_ERROR"
    assert body["error"]["message"] == "Unsupported file type. Allowed: .txt, .pdf"
    after = assert_envelope(viewer_client.get("/api/admin/kb/documents", params={"limit": 1}))["total"]
    assert after == before


def _one_page_pdf(text: str) -> bytes:
    """A minimal valid PDF with one line of text (pypdf can write pages but not text)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>"
        ),
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_admin_summary_and_its_seed_alias(viewer_client):
    summary = assert_envelope(viewer_client.get("/api/admin/panel/summary"))
    assert set(summary) >= {"total_users", "active_users", "admin_users", "timestamp"}
    assert summary["admin_users"] >= 1 and summary["total_users"] >= summary["active_users"] >= 1
    alias = assert_envelope(viewer_client.get("/api/admin/dashboard"))
    assert alias["total_users"] == summary["total_users"]


def test_admin_users(viewer_client, stack):
    page = assert_envelope(viewer_client.get("/api/admin/panel/users", params={"offset": 0, "limit": 500}))
    assert page["total"] >= len(stack.accounts)
    assert stack.accounts["admin"]["email"] in {u["email"] for u in page["users"]}


def test_cache_stats_and_clear(viewer_client, admin_client):
    stats = assert_envelope(viewer_client.get("/api/admin/cache/stats"))
    assert {"size", "max_size", "utilization", "hits", "misses"} <= set(stats)
    cleared = assert_envelope(admin_client.post("/api/admin/cache/clear"))
    assert cleared["success"] is True and cleared["message"]
    assert assert_envelope(viewer_client.get("/api/admin/cache/stats"))["size"] == 0


def test_feature_flags_list_get_patch(viewer_client, admin_client):
    listing = assert_envelope(viewer_client.get("/api/admin/feature-flags"))
    assert listing["total"] == len(listing["flags"]) >= 5
    flag = listing["flags"][0]
    assert set(flag) >= {"name", "description", "flag_type", "enabled", "value", "default_value"}

    one = assert_envelope(viewer_client.get("/api/admin/feature-flags/beta_admin_panel"))
    assert one["name"] == "beta_admin_panel"
    patched = assert_envelope(
        admin_client.patch(
            "/api/admin/feature-flags/beta_admin_panel",
            json={"enabled": not one["enabled"], "value": True, "description": "patched by contract test"},
        )
    )
    assert patched["enabled"] is (not one["enabled"]) and patched["description"] == "patched by contract test"
    assert (
        assert_envelope(viewer_client.get("/api/admin/feature-flags/beta_admin_panel"))["enabled"]
        is patched["enabled"]
    )


def test_unknown_feature_flag_is_http_200_with_success_false(viewer_client, admin_client):
    for response in (
        viewer_client.get("/api/admin/feature-flags/no_such_flag"),
        admin_client.patch("/api/admin/feature-flags/no_such_flag", json={"enabled": True}),
    ):
        assert response.status_code == 200
        body = response.json()
        assert body["success"] is False and body["error"]["code"] == "NOT_FOUND"


def test_metrics_has_latency_histograms_by_route_template(user_client):
    created = assert_envelope(user_client.post("/api/conversations", json={"title": "m"}), 201)
    user_client.get(f"/api/sessions/{created['id']}/export/markdown")
    response = user_client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "# TYPE http_request_duration_seconds histogram" in text
    assert 'route="/api/sessions/{conversation_id}/export/markdown"' in text
    assert created["id"] not in text


def test_realtime_chat_streams_chunks_then_done_with_citations(admin_client, user_client):
    upload(
        admin_client,
        "Warfarin requires INR monitoring; vitamin K reverses warfarin. " * 40,
        name="warfarin.txt",
    )
    ws = user_client.websocket()
    try:
        connected = json.loads(ws.recv())
        assert connected["type"] == "connected" and connected["protocolVersion"] == "1.0"
        assert connected["capabilities"] == ["text_streaming"] and connected["clientId"]
        ws.send(json.dumps({"type": "ping"}))
        assert json.loads(ws.recv())["type"] == "pong"
        ws.send(json.dumps({"type": "message", "content": "How is warfarin monitored?"}))
        frames = receive_until_done(ws)
    finally:
        ws.close()
    chunks = [f for f in frames if f["type"] == "chunk"]
    done = frames[-1]
    assert len(chunks) >= 2 and done["type"] == "message.done"
    assert {c["messageId"] for c in chunks} == {done["messageId"]}
    message = done["message"]
    assert message["role"] == "assistant" and message["content"] == "".join(c["content"] for c in chunks)
    assert any("warfarin" in c["title"].lower() or c["document_id"] for c in message["citations"])
    assert message["citations"], "a question about an indexed document gets a grounded answer"


def test_realtime_chat_in_a_conversation_is_stored(user_client):
    conversation = assert_envelope(user_client.post("/api/conversations", json={"title": "ws"}), 201)
    ws = user_client.websocket(conversationId=conversation["id"])
    try:
        json.loads(ws.recv())
        ws.send(json.dumps({"type": "message", "content": "What about hypertension drugs?"}))
        frames = receive_until_done(ws)
    finally:
        ws.close()
    assert frames[0]["type"] == "user_message.created" and frames[-1]["type"] == "message.done"
    listing = assert_envelope(user_client.get("/api/conversations", params={"pageSize": 100}))
    assert next(i for i in listing["items"] if i["id"] == conversation["id"])["messageCount"] == 2
    export = user_client.get(f"/api/sessions/{conversation['id']}/export/markdown").text
    assert "What about hypertension drugs?" in export and frames[-1]["message"]["content"] in export


def test_realtime_unknown_type_and_bad_token(user_client, client):
    ws = user_client.websocket()
    try:
        json.loads(ws.recv())
        ws.send(json.dumps({"type": "dance"}))
        frame = json.loads(ws.recv())
        assert frame["type"] == "error" and frame["error"]["code"] == "UNKNOWN_MESSAGE_TYPE"
        ws.send(json.dumps({"type": "ping"}))
        assert json.loads(ws.recv())["type"] == "pong", "the socket stays usable after an error"
    finally:
        ws.close()

    ws = client.websocket(token="not-a-jwt")
    try:
        frame = json.loads(ws.recv())
        assert frame["type"] == "error" and frame["error"]["code"] == "UNAUTHORIZED"
        opcode, payload = ws.recv_data()
        assert opcode == 8 and int.from_bytes(payload[:2], "big") == 1008
    finally:
        ws.close()


def test_rest_chat_of_the_seed(admin_client, user_client):
    upload(admin_client, "Metformin is first-line therapy for type 2 diabetes. " * 40, name="metformin.txt")
    response = user_client.post(
        "/api/chat", json={"message": "What is first-line therapy for type 2 diabetes?"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answer"] and body["citations"]


def test_answers_cite_new_documents_at_once_and_deleted_ones_no_more(admin_client, user_client):
    """Retrieval results are cached; a KB change must make every cached result stale."""
    word = f"zq{uuid.uuid4().hex[:10]}"
    question = {"message": f"What does {word} mean?"}

    def cited_titles() -> set[str]:
        response = user_client.post("/api/chat", json=question)
        assert response.status_code == 200, response.text
        return {c["title"] for c in response.json()["citations"]}

    title = f"Glossary of {word}"
    assert title not in cited_titles()
    document = upload(
        admin_client, f"The term {word} means a rare finding. " * 30, name="glossary.txt", title=title
    )
    assert title in cited_titles()
    assert admin_client.delete(f"/api/admin/kb/documents/{document['document_id']}").status_code == 200
    assert title not in cited_titles()
