"""Live traffic figures: read the IPVS counters at a steady pace and send compact, signed batches.

Runs in a thread of its own with its own generic-netlink socket, so reading statistics never waits for
an apply (which holds the command handler's lock) and an apply never waits for it; batches go out
through their own reporter without retries, so a broker outage cannot hold up heartbeats either (a
lost batch is simply superseded by the next one). No Django (docs/traffic.md, "From the kernel").

A batch carries only the rows that changed since the previous batch, the rows that disappeared, and a
full table every `full_every` batches and after a restart of the reader (`epoch` changes):

    {"kind": "traffic", "host": ..., "epoch": "…", "seq": 7, "at": 1764150000.12, "interval": 1.0,
     "full": false,
     "rows": [["tcp 10.0.0.1:80", null, 0, active, inactive, conns, inpkts, outpkts, inbytes, outbytes],
              ["tcp 10.0.0.1:80", "10.1.0.11", 80, active, inactive, conns, …]],
     "gone": [["tcp 10.0.0.1:80", "10.1.0.12", 80]]}

A service's row (address null) counts its connections as the sum over its real servers.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from pyroute2.netlink.generic import ipvs as genl_ipvs

from lvsweb_agent.model import FAMILIES
from lvsweb_agent.netlink import GenericNetlink, decode_dest, decode_service, service_key_attrs

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 1.0
FULL_EVERY = 60

RowKey = tuple[str, str | None, int]


def read_table(genl: GenericNetlink) -> dict[RowKey, tuple[int, ...]]:
    """Every service and real server with (active, inactive, conns, inpkts, outpkts, inbytes, outbytes)."""
    rows: dict[RowKey, tuple[int, ...]] = {}
    if genl.family_id is None:
        return rows  # ip_vs is not loaded: a real server, or a director before its first apply
    services = [decode_service(d, s, e) for d, s, e in genl.dump(genl_ipvs.IPVS_CMD_GET_SERVICE)]
    for service in services:
        name = str(service.key)
        family = FAMILIES[service.key.family]
        active = inactive = 0
        for data, start, end in genl.dump(genl_ipvs.IPVS_CMD_GET_DEST, service_key_attrs(service)):
            dest = decode_dest(data, start, end, family)
            c = dest.counters
            assert c is not None  # decoded from the kernel: always with counters
            active += c.active_conns
            inactive += c.inactive_conns
            rows[(name, dest.address, dest.port)] = (
                c.active_conns, c.inactive_conns, c.conns, c.in_packets, c.out_packets, c.in_bytes, c.out_bytes,
            )  # fmt: skip
        c = service.counters
        assert c is not None
        rows[(name, None, 0)] = (active, inactive, c.conns, c.in_packets, c.out_packets, c.in_bytes, c.out_bytes)
    return rows


class BatchEncoder:
    """Turns successive table reads into batches of changed rows (see the module docstring)."""

    def __init__(self, host: str, interval: float, full_every: int = FULL_EVERY):
        self.host = host
        self.interval = interval
        self.full_every = full_every
        self.epoch = secrets.token_hex(8)
        self.seq = 0
        self.previous: dict[RowKey, tuple[int, ...]] = {}

    def encode(self, rows: dict[RowKey, tuple[int, ...]], at: float) -> dict[str, Any] | None:
        """The batch for this read, or None when there is nothing to say (no IPVS table, before and now)."""
        full = self.seq % self.full_every == 0
        gone = [list(key) for key in self.previous if key not in rows]
        previous = {} if full else self.previous
        changed = {key: values for key, values in rows.items() if previous.get(key) != values}
        if not rows and not gone and not self.previous:
            return None
        self.previous = rows
        self.seq += 1
        return {
            "kind": "traffic",
            "host": self.host,
            "epoch": self.epoch,
            "seq": self.seq,
            "at": round(at, 3),
            "sent_at": round(time.time(), 3),
            "interval": self.interval,
            "full": full,
            "rows": [[*key, *values] for key, values in changed.items()],
            "gone": gone,
        }


class StatsSender(threading.Thread):
    """Reads the table every `interval` seconds and sends each batch through `send` until stopped."""

    def __init__(
        self,
        *,
        host: str,
        send: Callable[[dict[str, Any]], None],
        netns: str | None = None,
        interval: float = DEFAULT_INTERVAL,
        full_every: int = FULL_EVERY,
        clock: Callable[[], float] = time.time,
    ):
        super().__init__(name="lvsweb-agent-stats", daemon=True)
        self.send = send
        self.netns = netns
        self.interval = interval
        self.clock = clock
        self.encoder = BatchEncoder(host, interval, full_every)
        self.stopping = threading.Event()
        self._genl: GenericNetlink | None = None

    def _socket(self) -> GenericNetlink:
        # Made again when ip_vs was not loaded yet: the family appears with the director's first apply.
        if self._genl is None or self._genl.family_id is None:
            if self._genl is not None:
                self._genl.close()
            from lvsweb_agent.kernel import in_netns

            with in_netns(self.netns):
                self._genl = GenericNetlink("IPVS")
        return self._genl

    def tick(self) -> dict[str, Any] | None:
        """Read the kernel once and send the batch (if any); returns it."""
        at = self.clock()
        rows = read_table(self._socket())
        batch = self.encoder.encode(rows, at)
        if batch is not None:
            self.send(batch)
        return batch

    def run(self) -> None:
        deadline = time.monotonic()
        while not self.stopping.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("reading the IPVS counters failed; trying again in %s s", self.interval)
                if self._genl is not None:
                    self._genl.close()
                    self._genl = None
            # A steady pace (not "interval after the read"): windows of two reads span two kernel refreshes.
            deadline += self.interval
            delay = deadline - time.monotonic()
            if delay < 0:
                deadline, delay = time.monotonic(), 0
            self.stopping.wait(delay)

    def stop(self) -> None:
        self.stopping.set()

    def close(self) -> None:
        if self._genl is not None:
            self._genl.close()
            self._genl = None


def interval_from_environment() -> float:
    """LVSWEB_STATS_INTERVAL seconds between reads (default 1; 0 turns live traffic off)."""
    value = os.environ.get("LVSWEB_STATS_INTERVAL", "")
    try:
        return max(float(value), 0.0) if value else DEFAULT_INTERVAL
    except ValueError:
        log.error("LVSWEB_STATS_INTERVAL=%r is not a number of seconds; using %s", value, DEFAULT_INTERVAL)
        return DEFAULT_INTERVAL
