"""A Redis database of the real server on 127.0.0.1:6379 that no one else is using, for one test."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest
import redis

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
CLAIM_KEY = "lvsweb-tests:claimed-by"
# 15 is `make test`'s own (REDIS_URL); 0 is a running console's.
DATABASES = range(9, 15)


@contextlib.contextmanager
def claimed_redis_db() -> Iterator[str]:
    """Claim an empty database (a key set only if absent), yield its URL, flush it afterwards."""
    for db in DATABASES:
        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db)
        if client.set(CLAIM_KEY, os.getpid(), nx=True):
            if client.dbsize() == 1:
                break
            client.delete(CLAIM_KEY)
        client.close()
    else:
        pytest.fail(f"no free Redis database among {DATABASES.start}-{DATABASES.stop - 1} on {REDIS_HOST}:{REDIS_PORT}")
    try:
        yield f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}"
    finally:
        client.flushdb()
        client.close()
