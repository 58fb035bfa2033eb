"""Load drivers: separate processes that act as residents or as the API's callers, so the load
they make is measured from outside the hub's processes. Each reads a plan file and writes a
result file: `python -m bench.drivers.<name> plan.json result.json`."""
