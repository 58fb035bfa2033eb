"""The committed OpenAPI document (`docs/openapi.json`): how it is made and compared.

App and provider engineers generate clients from the committed file, so a change of the API's
contract must show as a diff of it. `mph openapi --write` regenerates it; the contract test
fails while the app and the file differ.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DOCUMENT_PATH = Path(__file__).resolve().parents[1] / "docs" / "openapi.json"
REGENERATE = "mph openapi --write"


def build_document() -> dict[str, Any]:
    """The document as the app serves it at `/openapi.json` (no server is started)."""
    from api.app import create_app
    from hub.settings import Settings

    document: dict[str, Any] = create_app(Settings()).openapi()
    return document


def render(document: dict[str, Any]) -> str:
    """Stable text: the app's own key order, two-space indents, UTF-8 kept readable."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def committed(path: Path = DOCUMENT_PATH) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


def write(path: Path = DOCUMENT_PATH) -> bool:
    """Write the app's document to `path`; True when it changed."""
    text = render(build_document())
    if committed(path) == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True
