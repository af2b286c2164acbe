"""KB documents: multipart upload (chunked and indexed for retrieval), list, get, delete."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query, Request
from sqlalchemy import delete, func, select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from stack import envelope, retrieval
from stack.auth import AdminReader, AdminWriter
from stack.database import kb_chunks, kb_documents
from stack.documents import (
    ALLOWED_EXTENSIONS,
    UNSUPPORTED_FILE_TYPE,
    UnreadableDocument,
    chunk,
    extension_of,
    extract_text,
)
from stack.timestamps import iso, utcnow

router = APIRouter(prefix="/api/admin/kb/documents", tags=["knowledge-base"])

# Room for the multipart framing around the file when judging Content-Length up front.
_MULTIPART_OVERHEAD = 64 * 1024


def document_reply(row: dict) -> dict:
    return {
        "document_id": row["id"],
        "title": row["title"],
        "source_type": row["source_type"],
        "filename": row["filename"],
        "content_type": row["content_type"],
        "size_bytes": row["size_bytes"],
        "upload_date": iso(row["upload_date"]),
        "chunks_indexed": row["chunks_indexed"],
        "status": "indexed",
    }


def _too_large(limit: int) -> envelope.EnvelopeError:
    return envelope.EnvelopeError(413, "PAYLOAD_TOO_LARGE", f"Upload exceeds the limit of {limit} bytes")


async def _read_upload(request: Request, limit: int) -> UploadFile:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + _MULTIPART_OVERHEAD:
        raise _too_large(limit)  # refused before the body is read
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise envelope.EnvelopeError(
            415, "UNSUPPORTED_MEDIA_TYPE", "Upload a file as multipart/form-data in the field 'file'"
        )
    try:
        form = await request.form(max_files=1, max_fields=10)
    except Exception as exc:  # malformed multipart framing is the client's error
        raise envelope.EnvelopeError(400, "INVALID_UPLOAD", f"Malformed multipart body: {exc}") from exc
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise envelope.EnvelopeError(422, "VALIDATION_ERROR", "Missing file field 'file'", field="file")
    return upload


@router.post("")
async def upload_document(
    request: Request,
    user: AdminWriter,
    title: str | None = Query(None, max_length=500),
    source_type: str = Query("uploaded", max_length=64),
):
    limit = request.app.state.settings.max_upload_bytes
    try:
        upload = await _read_upload(request, limit)
        filename = upload.filename or "upload"
        if extension_of(filename) not in ALLOWED_EXTENSIONS:
            raise envelope.EnvelopeError(400, "VALIDATION_ERROR", UNSUPPORTED_FILE_TYPE, field="file")
        payload = await upload.read(limit + 1)
    finally:
        await request.close()  # the parsed form's spooled temp files; FastAPI closes only forms it parsed
    if len(payload) > limit:
        raise _too_large(limit)
    if not payload:
        raise envelope.EnvelopeError(400, "EMPTY_DOCUMENT", "The uploaded file is empty", field="file")
    try:
        text = await run_in_threadpool(extract_text, filename, payload)
    except UnreadableDocument as exc:
        raise envelope.EnvelopeError(400, "INVALID_DOCUMENT", str(exc), field="file") from exc
    chunks = chunk(text)
    if not chunks:
        raise envelope.EnvelopeError(
            400, "EMPTY_DOCUMENT", "No text could be extracted from the file", field="file"
        )

    row = {
        "id": str(uuid.uuid4()),
        "title": title or filename,
        "source_type": source_type,
        "filename": filename,
        "content_type": upload.content_type,
        "size_bytes": len(payload),
        "chunks_indexed": len(chunks),
        "uploaded_by": user["id"],
        "upload_date": utcnow(),
    }
    marker = request.app.state.settings.indexing_failure_marker
    async with request.app.state.engine.begin() as conn:
        await conn.execute(kb_documents.insert().values(**row))
        if marker and marker in row["title"]:
            # raised inside the transaction: the document is rolled back with its failed indexing
            raise envelope.EnvelopeError(500, "INDEXING_FAILED", "The document could not be indexed")
        await conn.execute(
            kb_chunks.insert(),
            [{"document_id": row["id"], "chunk_index": i, "content": c} for i, c in enumerate(chunks)],
        )
        await retrieval.bump_generation(conn)
    return envelope.ok(
        {
            "document_id": row["id"],
            "title": row["title"],
            "status": "indexed",
            "chunks_indexed": len(chunks),
            "message": f"Document indexed in {len(chunks)} chunks",
        }
    )


@router.get("")
async def list_documents(
    request: Request,
    _: AdminReader,
    skip: int = Query(0, ge=0),
    limit: int = Query(50, ge=1, le=500),
):
    async with request.app.state.engine.connect() as conn:
        total = (await conn.execute(select(func.count()).select_from(kb_documents))).scalar_one()
        rows = await conn.execute(
            select(kb_documents)
            .order_by(kb_documents.c.upload_date.desc(), kb_documents.c.id)
            .offset(skip)
            .limit(limit)
        )
        documents = [document_reply(dict(r)) for r in rows.mappings()]
    return envelope.ok({"documents": documents, "total": total})


@router.get("/{document_id}")
async def get_document(document_id: str, request: Request, _: AdminReader):
    async with request.app.state.engine.connect() as conn:
        row = (
            (await conn.execute(select(kb_documents).where(kb_documents.c.id == document_id)))
            .mappings()
            .first()
        )
    if row is None:
        raise envelope.not_found("Document", document_id)
    return envelope.ok(document_reply(dict(row)))


@router.delete("/{document_id}")
async def delete_document(document_id: str, request: Request, _: AdminWriter):
    async with request.app.state.engine.begin() as conn:
        # Chunks first and explicitly: the SQLite FTS index is maintained by a trigger on their delete.
        await conn.execute(delete(kb_chunks).where(kb_chunks.c.document_id == document_id))
        result = await conn.execute(delete(kb_documents).where(kb_documents.c.id == document_id))
        if result.rowcount:
            await retrieval.bump_generation(conn)
    if result.rowcount == 0:
        raise envelope.not_found("Document", document_id)
    return envelope.ok({"document_id": document_id, "status": "deleted"})
