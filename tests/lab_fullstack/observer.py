"""In the lab VM: watch the director's IPVS table over netlink and say when it matches (bench/apply_latency.py).

`watch` request: `expected` (every service the director must hold: `[address, port, [[rs_address, rs_port,
weight], ...]]`), `probe` (`[address, port]` of the service the agent writes last) and `timeout`. The observer
answers twice: `{"watching": true, "matched_already": bool}` once it has looked at the table (the host calls
the API's apply only after that), then the moment the table matched.

How the moment is found: every `interval` seconds the observer dumps the probe service's real servers (one
small netlink dump: cheap enough to poll while the agent works on the same emulated CPUs). The agent writes
the director's IPVS operations in document order, in batches acknowledged one after another, so the probe
matching means everything before it is in place; the observer then reads the whole table and checks it
(if that check fails it keeps polling the whole table and says so: `probe_early`). The time reported is the
end of the first matching poll (an upper bound; `resolution` is the time since the previous poll started).

Clocks: the VM's clock is not this machine's. The observer asks Redis (on this machine) for its `TIME` a few
times right after the match and keeps the exchange with the shortest round trip: offset = Redis time minus
the middle of that exchange, good to ± half that round trip (`uncertainty`). `matched_at` is in this
machine's clock.
"""

from __future__ import annotations

import subprocess
import time

from labnet import inside
from lvsweb_agent.model import FAMILIES, Service, ServiceKey
from lvsweb_agent.netlink import GenericNetlink, NetlinkError, decode_dest, decode_service, service_key_attrs
from pyroute2.netlink.generic import ipvs as genl_ipvs

DIRECTOR = "director"
INTERVAL = 0.02  # seconds between polls: short, without stealing the agent's CPU


def _table(expected: list) -> dict:
    return {(a, int(p)): {(ra, int(rp)): int(w) for ra, rp, w in dests} for a, p, dests in expected}


def _dests(genl: GenericNetlink, address: str, port: int) -> dict | None:
    """The real servers of one TCP service as {(address, port): weight}, None when the service is missing."""
    service = Service(key=ServiceKey.for_address("tcp", address, port))
    try:
        replies = genl.dump(genl_ipvs.IPVS_CMD_GET_DEST, service_key_attrs(service))
    except NetlinkError:
        return None
    family = FAMILIES[service.key.family]
    return {(d.address, d.port): d.weight for d in (decode_dest(data, s, e, family) for data, s, e in replies)}


def _whole(genl: GenericNetlink) -> dict:
    """The whole table as {(address, port): {(rs address, rs port): weight}}."""
    table = {}
    for data, start, end in genl.dump(genl_ipvs.IPVS_CMD_GET_SERVICE):
        key = decode_service(data, start, end).key
        table[(key.address, key.port)] = _dests(genl, key.address, key.port)
    return table


def clock_offset(broker, samples: int = 7) -> tuple[float, float]:
    """(this machine's clock minus the VM's, ± uncertainty) from Redis TIME exchanges."""
    best = None
    for _ in range(samples):
        before = time.time()
        seconds, micros = broker.time()
        after = time.time()
        trip = after - before
        if best is None or trip < best[1]:
            best = (seconds + micros / 1e6 - (before + after) / 2, trip)
    return best[0], best[1] / 2


def watch(request: dict, broker, answer) -> dict:
    expected = _table(request["expected"])
    probe_key = (request["probe"][0], int(request["probe"][1]))
    timeout = float(request.get("timeout", 300))
    with inside(DIRECTOR):
        genl = GenericNetlink("IPVS")
    try:
        answer({"ok": True, "result": {"watching": True, "matched_already": _whole(genl) == expected}})
        polls, probe_early = 0, False
        started = previous = time.time()
        while True:
            began = time.time()
            # Until the probe was seen matching early, only the probe service is read.
            matched = _whole(genl) == expected if probe_early else _dests(genl, *probe_key) == expected[probe_key]
            ended = time.time()
            polls += 1
            if matched:
                offset, uncertainty = clock_offset(broker)
                if probe_early or _whole(genl) == expected:
                    return {
                        "matched_at": ended + offset,
                        "resolution": ended - previous,
                        "uncertainty": uncertainty,
                        "polls": polls,
                        "probe_early": probe_early,
                    }
                probe_early = True
            if ended - started > timeout:
                raise TimeoutError(f"the director's table did not match within {timeout:.0f} s ({polls} polls)")
            previous = began
            time.sleep(INTERVAL)
    finally:
        genl.close()


def timed(host, args: list[str], stdin: str | None) -> float:
    """Seconds `ipvsadm ARGS` (or `ipvsadm-restore` when ARGS[0] is that) takes in HOST's namespace, minus
    the start-up of a process there (the fastest of three runs of `true`)."""
    command = args if args and args[0].startswith("ipvsadm") else ["ipvsadm", *args]
    with inside(host.name):
        baseline = min(_run(["true"], None) for _ in range(3))
        return max(_run(command, stdin) - baseline, 0.0)


def _run(command: list[str], stdin: str | None) -> float:
    start = time.perf_counter()
    subprocess.run(command, input=stdin, text=True, check=True, capture_output=True, timeout=600)
    return time.perf_counter() - start
