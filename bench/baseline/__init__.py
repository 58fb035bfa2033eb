"""The naive baseline: the lifecycle built the way the Temporal samples teach.

One workflow per resident and measure, one regular activity per step, a worker with default
options and the default sandboxed runner, one task queue. It speaks the hub's contract (the
workflow type `Application` with its `apply` and `request_receipt` updates and `acknowledge`
signal, the workflow type `Measure` a publish starts), so the hub's own API, database, adapters
and simulator serve it unchanged; only the orchestration differs. Its activities do the same
database and provider work as the hub, through the same `storage/` units of work and adapters.

Auto-grant the samples way: the measure workflow pages through the target list and starts one
child `Application` workflow per target (the batch sliding-window sample), each granting its
resident in a regular activity. Batch files: a polling workflow per batch provider runs a round
of the same dispatcher work as the hub in a regular activity, then sleeps.

It is a yardstick, never deployed: run it with `mph bench <scenario> --variant baseline`.
"""
