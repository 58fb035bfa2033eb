"""The seam between the services and whatever carries an application's lifecycle.

The services ask an `Orchestrator` for the lifecycle's steps: decide an application that needs a
workflow, send an application an update (a support action, a review decision), carry the
receipts a request claimed, start a measure's workflow, hand providers' answers on.
`HUB_ORCHESTRATION` picks one:

- `temporal` (the default, and the only one production accepts): the durable workflows of
  `workflows/`, reached through the Temporal client, exactly as before the seam.
- `direct`: the same activity functions (`activities/`) called in-process, each receipt carried
  by an asyncio task of the process that claimed it: claim, credit through the provider's
  adapter, record the outcome; an answer by webhook, pull or batch file is applied where it is
  received; an auto-grant measure's target list is granted by a task of the process that
  published it. Nothing is durable (a process that stops drops what it carries), there are no
  timers (no acknowledgement deadline, no stuck marks after it, no receipt-deadline expiry), no
  reviews, events, support actions or revocation signals. It exists to measure what the durable
  orchestration costs (`mph bench`, variant `direct`); `hub.settings` refuses it in production.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Protocol

from domain.applications import ApplicationDecision
from hub.settings import Settings, get_settings
from storage.models import Application, Measure
from workflows.messages import ClaimedReceipts

if TYPE_CHECKING:
    from services.context import HubContext

TEMPORAL = "temporal"
DIRECT = "direct"


@dataclasses.dataclass(frozen=True)
class NewApplication:
    """An application the API does not decide itself (review, events): its workflow decides."""

    measure_id: str
    mykey_id: str
    application_id: str
    workflow_id: str
    fixed_registration_id: str | None


@dataclasses.dataclass(frozen=True)
class WorkflowLabels:
    """What support staff filter an application's workflow on, known to whoever starts it
    (`workflows/search.py`): set at the start, so the run need not upsert them."""

    state: str
    municipality_code: str
    provider_ids: list[str]


class Orchestrator(Protocol):
    """The lifecycle's steps as the services ask for them."""

    async def apply(self, ctx: HubContext, new: NewApplication) -> ApplicationDecision:
        """Decide an application that needs its workflow (review, events)."""
        ...

    async def update_application(
        self, ctx: HubContext, application: Application, update: Any, argument: Any
    ) -> Any:
        """Send an `ApplicationWorkflow` update (by its method) to an application."""
        ...

    async def carry_receipts(
        self,
        ctx: HubContext,
        application: Application,
        claimed: ClaimedReceipts,
        *,
        labels: WorkflowLabels,
    ) -> None:
        """Carry each receipt the request claimed (in its own transaction) to its provider."""
        ...

    async def start_measure(
        self, ctx: HubContext, measure: Measure, *, targets_added: bool
    ) -> None:
        """Make sure the measure's own lifecycle runs (auto grants, the receipt deadline)."""
        ...


# ----- choosing ---------------------------------------------------------------------------------


def orchestration_of(settings: Settings | None) -> str:
    return (settings or get_settings()).orchestration


def is_direct(ctx: object) -> bool:
    """Whether this process carries lifecycles itself (`HUB_ORCHESTRATION=direct`)."""
    settings = getattr(ctx, "settings", None)
    return orchestration_of(settings if isinstance(settings, Settings) else None) == DIRECT


_DIRECT: dict[int, tuple[object, Orchestrator]] = {}


def orchestrator(ctx: HubContext) -> Orchestrator:
    """The orchestrator `ctx`'s settings name; a direct one is kept per context (its adapters)."""
    from services.direct_orchestration import DirectOrchestrator
    from services.temporal_orchestration import TEMPORAL_ORCHESTRATOR

    if ctx.settings.orchestration != DIRECT:
        return TEMPORAL_ORCHESTRATOR
    kept = _DIRECT.get(id(ctx))
    if kept is None or kept[0] is not ctx:
        kept = (ctx, DirectOrchestrator(ctx.sessions, ctx.registry, ctx.clock))
        _DIRECT[id(ctx)] = kept
    return kept[1]
