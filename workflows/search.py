"""Search attributes of the hub's workflows: what support staff filter on in the Temporal UI."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

STATE = SearchAttributeKey.for_keyword("HubState")
MUNICIPALITY = SearchAttributeKey.for_keyword("HubMunicipality")
PROVIDERS = SearchAttributeKey.for_keyword_list("HubProviders")
STUCK = SearchAttributeKey.for_bool("HubStuck")

ALL = (STATE, MUNICIPALITY, PROVIDERS, STUCK)

# Upserting is a workflow command: histories recorded before search attributes existed must replay
# without it, so new runs take this patch and old ones do not.
PATCH = "search-attributes-v1"
