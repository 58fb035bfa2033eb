"""A Python client generated from the committed `docs/openapi.json` by openapi-python-client,
exactly as an app team would make one, into a temporary directory for the test session.

Generated at test time rather than committed: a committed client would be a second copy of the
contract to keep in step, and the point is that the committed document alone yields a client
that works. Generating takes about a second.
"""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs

from api.openapi_document import DOCUMENT_PATH

PACKAGE = "mynapoint_hub_client"
CONFIG = {
    "project_name_override": PACKAGE,
    "package_name_override": PACKAGE,
    "post_hooks": [],
    # Not JSON: the generator hands these bodies over as bytes (QR codes, CSV exports).
    "content_type_overrides": {
        "image/svg+xml": "application/octet-stream",
        "text/csv": "application/octet-stream",
    },
}


def generator() -> str:
    return shutil.which("openapi-python-client") or str(
        Path(sys.executable).parent / "openapi-python-client"
    )


def generate(directory: Path, document: Path = DOCUMENT_PATH) -> ModuleType:
    """Generate the client package from `document` into `directory` and import it."""
    config = directory / "generator.json"
    config.write_text(json.dumps(CONFIG))
    output = directory / PACKAGE
    done = subprocess.run(
        [
            generator(),
            "generate",
            "--path",
            str(document),
            "--meta",
            "none",
            "--output-path",
            str(output),
            "--config",
            str(config),
            "--overwrite",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    sys.path.insert(0, str(directory))
    importlib.invalidate_caches()
    return importlib.import_module(PACKAGE)


def undocumented(value: Any, where: str = "") -> list[str]:
    """Fields the server sent that the document does not describe, anywhere in a parsed body
    (the generated models keep them in `additional_properties`)."""
    found: list[str] = []
    if isinstance(value, list):
        for n, item in enumerate(value):
            found += undocumented(item, f"{where}[{n}]")
    elif attrs.has(type(value)):
        extra = getattr(value, "additional_properties", {})
        free_form = not attrs.fields(type(value)) or all(
            f.name == "additional_properties" for f in attrs.fields(type(value))
        )
        if extra and not free_form:
            found += [f"{where}.{key}" for key in extra]
        for field in attrs.fields(type(value)):
            if field.name != "additional_properties":
                found += undocumented(getattr(value, field.name), f"{where}.{field.name}")
    return found
