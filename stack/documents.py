"""Turning an uploaded file (.txt, .pdf) into text and the text into indexable chunks."""

from __future__ import annotations

import io
import re

# The gateway's: anything else (.md included) is refused with UNSUPPORTED_FILE_TYPE's message.
ALLOWED_EXTENSIONS = (".txt", ".pdf")
UNSUPPORTED_FILE_TYPE = f"Unsupported file type. Allowed: {', '.join(ALLOWED_EXTENSIONS)}"
CHUNK_WORDS = 180
CHUNK_OVERLAP_WORDS = 30


class UnreadableDocument(Exception):
    pass


def extension_of(filename: str) -> str:
    match = re.search(r"\.[A-Za-z0-9]+$", filename or "")
    return match.group(0).lower() if match else ""


def extract_text(filename: str, payload: bytes) -> str:
    """The document's text; raises UnreadableDocument for a corrupt PDF or binary posing as text."""
    if extension_of(filename) == ".pdf":
        from pypdf import PdfReader
        from pypdf.errors import PyPdfError

        try:
            reader = PdfReader(io.BytesIO(payload))
            return "\n\n".join(page.extract_text() or "" for page in reader.pages)
        except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
            raise UnreadableDocument(f"not a readable PDF: {exc}") from exc
    if b"\x00" in payload[:8192]:
        raise UnreadableDocument("binary content in a text document")
    try:
        return payload.decode("utf-8-sig")
    except UnicodeDecodeError:
        return payload.decode("latin-1")  # never refuse legacy text: every byte maps


def chunk(text: str) -> list[str]:
    """Overlapping windows of words, so a sentence cut at a boundary is still found whole once."""
    words = text.split()
    if not words:
        return []
    step = CHUNK_WORDS - CHUNK_OVERLAP_WORDS
    return [
        " ".join(words[start : start + CHUNK_WORDS])
        for start in range(0, max(1, len(words) - CHUNK_OVERLAP_WORDS), step)
    ]
