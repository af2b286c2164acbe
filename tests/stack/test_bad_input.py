"""Bad input gets the right 4xx, never a crash, and never costs data that was acknowledged."""

from __future__ import annotations

import json

import pytest
from stack_client import assert_envelope, upload

SQL_LOOKING = "Robert'); DROP TABLE users;-- \" OR 1=1 -- ; SELECT * FROM kb_documents"


def test_oversized_upload_is_413(admin_client):
    too_big = b"a " * (6 * 1024 * 1024)  # twice this is above the default limit of 10 MiB
    response = admin_client.post(
        "/api/admin/kb/documents", files={"file": ("big.txt", too_big + too_big, "text/plain")}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize(
    ("name", "payload", "status"),
    [
        ("malware.exe", b"MZ\x90\x00", 400),
        ("notes", b"no extension", 400),
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", 400),
        ("binary.txt", b"\x00\x01\x02\x03" * 100, 400),
        ("empty.txt", b"", 400),
        ("blank.txt", b"   \n\n  ", 400),
    ],
)
def test_wrong_or_unreadable_files_are_refused(admin_client, name, payload, status):
    response = admin_client.post("/api/admin/kb/documents", files={"file": (name, payload)})
    assert response.status_code == status, response.text
    assert response.json()["success"] is False


def test_upload_without_multipart_or_without_file(admin_client):
    assert admin_client.post("/api/admin/kb/documents", json={"file": "x"}).status_code == 415
    response = admin_client.post("/api/admin/kb/documents", files={"other": ("a.txt", b"text")})
    assert response.status_code == 422 and response.json()["error"]["field"] == "file"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/auth/login"),
        ("POST", "/api/auth/register"),
        ("POST", "/api/conversations"),
        ("POST", "/api/auth/refresh"),
    ],
)
def test_malformed_json_is_422(user_client, method, path):
    response = user_client.request(
        method, path, data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list) and response.json()["detail"][0]["type"]


def test_invalid_register_fields_are_422(client):
    for body in (
        {"email": "x@example.com", "password": "short"},
        {"email": "not-an-email", "password": "password123"},
        {"email": "x@example.com", "password": "p" * 101},
        {"password": "password123"},
    ):
        assert client.post("/api/auth/register", json=body).status_code == 422, body


def test_bad_query_parameters_are_422(user_client, viewer_client):
    assert user_client.get("/api/conversations", params={"page": 0}).status_code == 422
    assert user_client.get("/api/conversations", params={"pageSize": "many"}).status_code == 422
    assert viewer_client.get("/api/admin/kb/documents", params={"limit": -1}).status_code == 422


def test_unknown_ids_answer_the_404_envelope(user_client, viewer_client, admin_client):
    for response in (
        viewer_client.get("/api/admin/kb/documents/00000000-0000-0000-0000-000000000000"),
        admin_client.delete("/api/admin/kb/documents/nope"),
        user_client.get("/api/sessions/nope/export/markdown"),
        user_client.get("/api/conversations/nope"),
    ):
        assert response.status_code == 404
        assert response.json()["success"] is False and response.json()["error"]["code"] == "NOT_FOUND"


def test_sql_looking_strings_are_stored_verbatim(admin_client, user_client, viewer_client, stack):
    conversation = assert_envelope(user_client.post("/api/conversations", json={"title": SQL_LOOKING}), 201)
    listing = assert_envelope(user_client.get("/api/conversations", params={"pageSize": 100}))
    assert next(i for i in listing["items"] if i["id"] == conversation["id"])["title"] == SQL_LOOKING

    document = upload(admin_client, f"{SQL_LOOKING} " * 20, name="sql.txt", title=SQL_LOOKING)
    stored = assert_envelope(viewer_client.get(f"/api/admin/kb/documents/{document['document_id']}"))
    assert stored["title"] == SQL_LOOKING

    reply = user_client.post("/api/chat", json={"message": SQL_LOOKING})
    assert reply.status_code == 200, reply.text
    assert (
        user_client.post("/api/auth/login", json={"email": SQL_LOOKING, "password": SQL_LOOKING}).status_code
        == 401
    )
    assert assert_envelope(viewer_client.get("/api/admin/panel/summary"))["total_users"] >= len(
        stack.accounts
    )


def test_websocket_garbage_keeps_the_socket_open(user_client):
    ws = user_client.websocket()
    try:
        json.loads(ws.recv())
        for garbage in (
            "{broken",
            "[1, 2]",
            json.dumps({"type": "message"}),
            json.dumps({"type": "message", "content": 3}),
        ):
            ws.send(garbage)
            assert json.loads(ws.recv())["type"] == "error"
        ws.send(json.dumps({"type": "ping"}))
        assert json.loads(ws.recv())["type"] == "pong"
    finally:
        ws.close()


def test_every_acknowledged_write_is_readable_after_the_abuse(admin_client, user_client, viewer_client):
    """Interleave bad requests with good ones; every 200/201 must be readable afterwards."""
    acknowledged_docs, acknowledged_conversations = [], []
    for round_number in range(5):
        admin_client.post("/api/admin/kb/documents", files={"file": ("x.exe", b"MZ")})
        user_client.request(
            "POST", "/api/conversations", data=b"{", headers={"Content-Type": "application/json"}
        )
        acknowledged_docs.append(
            upload(admin_client, f"round {round_number} anticoagulation " * 30)["document_id"]
        )
        acknowledged_conversations.append(
            assert_envelope(user_client.post("/api/conversations", json={"title": f"r{round_number}"}), 201)[
                "id"
            ]
        )
    for document_id in acknowledged_docs:
        assert viewer_client.get(f"/api/admin/kb/documents/{document_id}").status_code == 200
    listed = {
        i["id"]
        for i in assert_envelope(user_client.get("/api/conversations", params={"pageSize": 100}))["items"]
    }
    assert set(acknowledged_conversations) <= listed
    assert user_client.get("/health").status_code == 200
