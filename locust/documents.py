"""Knowledge-base documents for admin uploads: the seed's three sizes, made on the fly.

Text is built from medical sentences so that uploads are chunked and indexed like real
guidance, and later questions can be answered with citations. Content varies per upload so the
target cannot serve it from a cache. Uploads are plain-text `.txt` files: the gateway accepts
`.txt` and `.pdf` only (400 VALIDATION_ERROR to anything else, `.md` included).
"""

from __future__ import annotations

import functools
import random

from urllib3 import encode_multipart_formdata

# The seed's sizes: small ~4 KB, medium ~40 KB, large ~400 KB.
SIZES = {"small": 4_000, "medium": 40_000, "large": 400_000}

SENTENCES = (
    "Hypertension is diagnosed when repeated office blood pressure readings exceed 140/90 mmHg.",
    "First-line treatment for type 2 diabetes is metformin with lifestyle changes unless contraindicated.",
    "Warfarin interacts with many antibiotics, which can raise the INR and the risk of bleeding.",
    "Signs of stroke include facial droop, arm weakness and speech difficulty; call emergency services.",
    "Iron-deficiency anaemia is confirmed by a low ferritin together with a microcytic blood count.",
    "Community-acquired pneumonia in adults is usually treated with amoxicillin for five days.",
    "Sepsis care bundles include lactate measurement, blood cultures and early broad-spectrum antibiotics.",
    "Asthma exacerbations are treated with short-acting bronchodilators and oral corticosteroids.",
    "SGLT2 inhibitors reduce hospital admissions for heart failure in several randomised trials.",
    "Dehydration causes thirst, dark urine, dizziness and, in severe cases, confusion.",
)


@functools.cache
def _guidance_body(size: str) -> str:
    # built once per size and process: generating 400 KB of text per upload would make the load
    # generator, not the target, the bottleneck
    rng = random.Random(size)
    lines, length = [], 0
    while length < SIZES[size]:
        line = rng.choice(SENTENCES)
        lines.append(line)
        length += len(line) + 1
    return "\n".join(lines) + "\n"


def guidance_text(size: str, rng: random.Random) -> str:
    """A note of about the size's length; its title makes every upload's content distinct."""
    return f"Clinical guidance note {rng.randrange(10**9)}\n\n" + _guidance_body(size)


def upload_body(size: str, rng: random.Random) -> tuple[str, bytes, str]:
    """(file name, multipart body, content type) for a KB upload of the given size."""
    name = f"guidance-{size}-{rng.randrange(10**6)}.txt"
    body, content_type = encode_multipart_formdata(
        {"file": (name, guidance_text(size, rng).encode(), "text/plain")}
    )
    return name, body, content_type
