"""The OpenAPI document is the contract app and provider engineers build against: the committed
file is the app's, every success answer is typed, every body has an example, and every list
speaks the one pagination convention (`?cursor=&limit=` → `{items, next_cursor}`)."""

from __future__ import annotations

import difflib
from typing import Any

import pytest

from api.openapi_document import REGENERATE, build_document, committed, render

METHODS = ("get", "post", "put", "patch", "delete")
# Views that hold a bounded report of two kinds of file, not one collection to walk.
NOT_COLLECTIONS = {("get", "/v1/providers/{provider_id}/batch-files")}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_document()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


def success_schemas(document: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    found = []
    for method, path, op in operations(document):
        for status, response in op["responses"].items():
            if status.startswith("2"):
                for media, content in response.get("content", {}).items():
                    found.append((f"{method.upper()} {path}", status, media, content.get("schema")))
    return found


def test_the_committed_document_is_the_apps(document: dict[str, Any]) -> None:
    expected, actual = render(document), committed()
    if expected != actual:
        diff = "".join(
            list(
                difflib.unified_diff(
                    actual.splitlines(keepends=True),
                    expected.splitlines(keepends=True),
                    "docs/openapi.json (committed)",
                    "the app",
                    n=2,
                )
            )[:80]
        )
        pytest.fail(f"docs/openapi.json is out of date; run `{REGENERATE}`:\n{diff}")


def test_no_success_answer_is_an_untyped_object(document: dict[str, Any]) -> None:
    untyped = []
    for where, status, media, schema in success_schemas(document):
        if not schema:
            untyped.append(f"{where} {status} {media}: no schema")
            continue
        shown = resolve(document, schema)
        if media.endswith("json") and (
            shown.get("type") != "object" or not shown.get("properties")
        ):
            untyped.append(f"{where} {status}: {shown}")
    assert untyped == [], "declare a response_model (api/schemas/) for each"


def test_every_operation_is_named_once(document: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in operations(document)]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert all("_v1_" not in i for i in ids), "operation IDs are the handlers' names"


def test_every_body_and_answer_has_an_example(document: dict[str, Any]) -> None:
    named: set[str] = set()
    for _, _, op in operations(document):
        request = op.get("requestBody", {}).get("content", {})
        answers = [
            c
            for s, r in op["responses"].items()
            if s.startswith("2")
            for c in r.get("content", {}).values()
        ]
        for content in [*request.values(), *answers]:
            ref = (content.get("schema") or {}).get("$ref")
            if ref:
                named.add(ref.rsplit("/", 1)[-1])
            elif content.get("schema", {}).get("type") == "object":
                assert "example" in content, content
    schemas = document["components"]["schemas"]
    missing = sorted(n for n in named if not schemas[n].get("examples"))
    assert missing == [], "give these models an example (model_config json_schema_extra)"


def test_lists_share_one_cursor_convention(document: dict[str, Any]) -> None:
    wrong = []
    for method, path, op in operations(document):
        names = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
        schema = resolve(
            document,
            op["responses"]
            .get("200", {})
            .get("content", {})
            .get("application/json", {})
            .get("schema", {}),
        )
        props = schema.get("properties", {})
        is_page = "items" in props or "next_cursor" in props
        takes_page = bool(names & {"cursor", "limit", "offset"})
        if (method, path) in NOT_COLLECTIONS:
            continue
        if "offset" in names:
            wrong.append(f"{method} {path}: offset (use cursor)")
        if is_page != takes_page or (is_page and not {"cursor", "limit"} <= names):
            wrong.append(f"{method} {path}: params {sorted(names)}, answer {sorted(props)}")
        if is_page and (
            props["items"].get("type") != "array" or "next_cursor" not in schema.get("required", [])
        ):
            wrong.append(f"{method} {path}: items must be an array and next_cursor required")
    assert wrong == []


def test_every_list_answers_get_where_post_creates(document: dict[str, Any]) -> None:
    """A collection one can add to can also be read: `GET` beside every creating `POST`."""
    lonely = [
        path
        for path, item in document["paths"].items()
        if "post" in item
        and "get" not in item
        and item["post"]["responses"].get("201")
        and not path.endswith(("/challenges", "/sessions"))  # a login, not a collection
    ]
    assert lonely == []


def test_each_routes_own_problem_codes_are_named(document: dict[str, Any]) -> None:
    from api.problem_codes import ROUTE_CODES
    from tests.contract.test_guides import raised_codes

    ids = {op["operationId"] for _, _, op in operations(document)}
    assert sorted(ROUTE_CODES.keys() - ids) == [], "codes for routes that do not exist"
    named = {code for codes in ROUTE_CODES.values() for names in codes.values() for code in names}
    assert sorted(named - raised_codes()) == [], "codes the hub never raises"
    apply = next(op for _, _, op in operations(document) if op["operationId"] == "apply")
    assert "already_applied" in apply["responses"]["409"]["x-problem-codes"]
