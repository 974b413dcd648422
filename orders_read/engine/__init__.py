"""The projection engine: runs every registered projection, knowing none of them.

A projection (``projection.Projection``) declares its name, the tables it owns, the
event types it handles, how it applies a batch idempotently, how it folds the log
from scratch and, optionally, a set-based SQL rebuild; it is registered with one
line in ``AppConfig.ready()`` (``registry.register``). The engine does the rest, the
same way for each:

- ``inline``: committed events into every projection right after COMMIT (a signal);
  a failure is logged and left to catch-up.
- ``catchup``: the log after the projection's checkpoint, in batches, each applied in
  the transaction that moves the checkpoint; poison events become dead letters,
  retried on every pass.
- ``follower``: catch-up kept going (NOTIFY on PostgreSQL, polling on SQLite).
- ``rebuild``: copies of every table a projection owns filled from the whole log,
  then swapped in at once; other projections keep serving and following.
- ``status``: each projection's checkpoint, lag and dead letters (``/health``); lag
  is what the projection does not reflect yet (``reflected``), and the inline path
  keeps the checkpoint near it.

Idempotency is the projection's, with two tools: ``upsert`` for rows that carry the
stream version they reflect (one row per stream), and ``ledger`` for rows that add up
many streams (an ``AppliedEvents`` table claimed in the same transaction; its
docstring says why a per-stream version is not enough there and why the claim is
safe under concurrent appliers).
"""
