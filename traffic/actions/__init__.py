"""Traffic actions: taking in the agents' batches, rolling history up and pruning it."""

from traffic.actions.history import prune_history, roll_up
from traffic.actions.ingest import handle_batch, ingest_batch, store_pending

__all__ = ["handle_batch", "ingest_batch", "prune_history", "roll_up", "store_pending"]
