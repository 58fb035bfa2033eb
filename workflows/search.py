"""Search attributes of the hub's workflows: what support staff filter on in the Temporal UI."""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)

with workflow.unsafe.imports_passed_through():
    from workflows import revisions
    from workflows.messages import ApplicationState

STATE = SearchAttributeKey.for_keyword("HubState")
MUNICIPALITY = SearchAttributeKey.for_keyword("HubMunicipality")
PROVIDERS = SearchAttributeKey.for_keyword_list("HubProviders")
STUCK = SearchAttributeKey.for_bool("HubStuck")

ALL = (STATE, MUNICIPALITY, PROVIDERS, STUCK)

# Upserting is a workflow command: histories recorded before search attributes existed must replay
# without it, so new runs take this patch and old ones do not.
PATCH = "search-attributes-v1"


class SearchPublisher:
    """Keeps the search attributes support staff filter on in step with the state; upserts only
    when a value changed, since each upsert is an event in the history."""

    def __init__(self, revision: int) -> None:
        self._published: dict[str, object] = {}
        if revision >= revisions.LEAN:  # set by the starter (`labels_at_start`): not repeated
            self._published = _as_published(workflow.info().typed_search_attributes)

    def publish(self, state: ApplicationState, *, label: str, stuck: bool) -> None:
        if not revisions.patched(PATCH):
            return
        providers = sorted({p.plan.provider_id for p in state.receipts.values()})
        municipality = state.decision.municipality_code if state.decision else None
        values: dict[str, object] = {
            "state": label,
            "stuck": stuck,
            "providers": providers,
            "municipality": municipality,
        }
        if values == self._published:
            return
        updates: list[SearchAttributeUpdate] = [
            STATE.value_set(label),
            STUCK.value_set(stuck),
            PROVIDERS.value_set(providers),
        ]
        if municipality is not None:
            updates.append(MUNICIPALITY.value_set(municipality))
        workflow.upsert_search_attributes(updates)
        self._published = values


def labels_at_start(
    *, label: str, municipality_code: str, provider_ids: list[str]
) -> TypedSearchAttributes:
    """The search attributes a starter sets on a new run: what the run's first publish would
    upsert once its receipts are claimed (a run of revision `LEAN` upserts only what differs)."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(STATE, label),
            SearchAttributePair(STUCK, False),
            SearchAttributePair(PROVIDERS, sorted(set(provider_ids))),
            SearchAttributePair(MUNICIPALITY, municipality_code),
        ]
    )


def _as_published(found: TypedSearchAttributes) -> dict[str, object]:
    state, stuck = found.get(STATE), found.get(STUCK)
    providers, municipality = found.get(PROVIDERS), found.get(MUNICIPALITY)
    if state is None or stuck is None or providers is None or municipality is None:
        return {}
    return {
        "state": state,
        "stuck": stuck,
        "providers": sorted(providers),
        "municipality": municipality,
    }
