"""Which copy of the read model a dashboard read uses: a hot standby when one will do.

``READ_REPLICA_URLS`` names hot standbys of the read primary, kept by PostgreSQL's
streaming replication. A read that needs nothing fresher goes to one of them and never
touches the read primary. A replica is asked, on the read's own connection, how far
behind it is; one that does not answer, or is behind by more than
``ORDERS_REPLICA_MAX_LAG`` seconds, is skipped for the next, and with none left the
read goes to the read primary, never to an error. A replica found down is not asked
again for ``DOWN_RETRY_SECONDS``, so an outage costs one failed connection per
process now and then, not one per request.

A read that must reflect a version (``min_version``) checks the replica's row first,
then the primary's, then waits (``selectors.summary_at_version``): it is never stale
when the primary already has that version, and never pins the client to the primary
for its other reads.
"""

from __future__ import annotations

import logging
import random
import threading
import time

from django.conf import settings
from django.db import DatabaseError, connections

logger = logging.getLogger(__name__)

# How long a replica that did not answer is left alone before it is tried again.
DOWN_RETRY_SECONDS = 1.0

# How far behind a standby is, in seconds: none when it has replayed all it received
# (a primary with no writes sends nothing, and the last replay only grows old).
# 0 on a server that is no standby at all.
LAG_SQL = """
SELECT CASE
    WHEN NOT pg_is_in_recovery() THEN 0
    WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
    ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)
END
"""

_down_until: dict[str, float] = {}
_down_lock = threading.Lock()


def replica_lag(alias: str) -> float:
    """Seconds the replica ``alias`` is behind its primary; raises if it cannot be reached."""
    with connections[alias].cursor() as cursor:
        cursor.execute(LAG_SQL)
        return float(cursor.fetchone()[0])


def replica_for_reads() -> str | None:
    """A replica alias fit to serve a read now, or None: read the primary."""
    aliases = list(settings.ORDERS_READ_REPLICAS)
    random.shuffle(aliases)  # spread the reads
    for alias in aliases:
        if _known_down(alias):
            continue
        try:
            lag = replica_lag(alias)
        except DatabaseError as error:
            logger.warning("Replica %s unavailable, reading elsewhere: %r", alias, error)
            _mark_down(alias)
            continue
        if lag <= settings.ORDERS_REPLICA_MAX_LAG:
            return alias
        logger.info("Replica %s is %.1f s behind; reading elsewhere", alias, lag)
    return None


def _known_down(alias: str) -> bool:
    with _down_lock:
        return _down_until.get(alias, 0.0) > time.monotonic()


def _mark_down(alias: str) -> None:
    connections[alias].close()
    with _down_lock:
        _down_until[alias] = time.monotonic() + DOWN_RETRY_SECONDS
