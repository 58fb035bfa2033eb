"""Which code a workflow run was started for: its revision, carried in its input.

A patch (`workflow.patched`) lets a run started by older code replay while new runs take the new
branch; the price is paid by every new run, forever: a marker event and, since the SDK core
publishes patches as the `TemporalChangeVersion` search attribute, an upsert event and a
visibility write per patch a run reaches. An application's lifecycle reached four of them.

A run started at revision `LEAN` or later was started by code that has every patch in `BAKED`,
so it takes them all without asking: no marker, no upsert. Older runs (revision 0: their input
has no revision) ask `workflow.patched` exactly as before, so their histories replay unchanged.
The revision comes from the run's input, which is in its history, so both answers are
deterministic. A patch added later goes through `workflow.patched` until a later revision
bakes it in.

Deploying: workers first, then the API. A worker older than a revision would run such a run
with its markers, which a newer worker could not replay.
"""

from __future__ import annotations

from temporalio import workflow

# Revision 1 (issue 19): the patches below taken without markers, search attributes set at
# the start, the receipt deadline's timer armed only while a grant waits for a receipt, and
# the outcome of a credit call recorded by the call itself.
LEAN = 1
CURRENT = LEAN

# Every patch a run of revision `LEAN` takes without asking.
BAKED = frozenset(
    {
        "search-attributes-v1",
        "claim-loads-application",
        "apply-once",
        "receipt-request-once",
        "receipt-machine",
        "credit-reversal",
        "contradiction-settled",
        "retry-without-status",
        "review-read-back",
    }
)


def revision() -> int:
    """The running workflow's revision: its `revision` attribute, 0 for workflows without one."""
    return int(getattr(workflow.instance(), "revision", 0))


def lean() -> bool:
    return revision() >= LEAN


def patched(patch_id: str) -> bool:
    """`workflow.patched`, but a run of revision `LEAN` or later takes a baked patch at once."""
    if patch_id in BAKED and lean():
        return True
    return workflow.patched(patch_id)
