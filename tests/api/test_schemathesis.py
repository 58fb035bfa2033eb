"""Schemathesis (4.x) against the running API, as each kind of caller: no response is a 5xx and
no response breaks the schema the API publishes for it."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from simulators.jpki import TestCA
from tests.api.roles import Callers, every_caller
from tests.support.databases import fresh_database
from tests.support.stack import Hub, running_hub

CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance"
MAX_EXAMPLES = int(os.environ.get("HUB_SCHEMATHESIS_EXAMPLES", "12"))
TAGS = {  # each caller fuzzes the routes of its role; no credentials at all fuzzes every route
    "none": [],
    "resident": ["resident", "auth"],
    "municipality": ["municipality"],
    "provider": ["provider"],
    "support": ["support"],
    "operator": ["operator", "health"],
}


@pytest.fixture(scope="module")
async def fuzzed_hub(
    temporal_env: WorkflowEnvironment, session_tmp: Path, test_ca: TestCA
) -> AsyncIterator[tuple[Hub, Callers]]:
    """A hub of its own: the fuzzer creates providers, keys and measures at random."""
    with fresh_database(session_tmp, backend="sqlite") as url:
        async with running_hub(
            database_url=url, client=temporal_env.client, tmp_dir=session_tmp, ca=test_ca
        ) as hub:
            yield hub, await every_caller(hub)


def schemathesis_command() -> str:
    found = shutil.which("st") or str(Path(sys.executable).parent / "st")
    return found


@pytest.mark.parametrize("caller", list(TAGS))
async def test_no_server_errors_and_no_schema_violations(
    fuzzed_hub: tuple[Hub, Callers], caller: str, tmp_path: Path
) -> None:
    hub, callers = fuzzed_hub
    headers = callers.headers[caller]
    command = [
        schemathesis_command(),
        "run",
        f"{hub.api_url}/openapi.json",
        "--checks",
        CHECKS,
        "--phases",
        "examples,fuzzing",  # the coverage phase trips over its own assertions now and then
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        "20261127",
        "--workers",
        "2",
        "--no-color",
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--exclude-path",
        "/v1/auth/sessions/current",  # would end the session the run uses
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    for tag in TAGS[caller]:
        command += ["--include-tag", tag]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=600)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-8000:]
    tested = re.search(r"Tested: (\d+)", text)
    assert tested is not None and int(tested.group(1)) >= 4, text[-3000:]
