"""Search attributes of the hub's workflows: what support staff filter on in the Temporal UI."""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
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

    def __init__(self) -> None:
        self._published: dict[str, object] = {}

    def publish(self, state: ApplicationState, *, label: str, stuck: bool) -> None:
        if not workflow.patched(PATCH):
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
