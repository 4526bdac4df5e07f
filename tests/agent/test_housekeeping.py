"""Nothing waits behind housekeeping: a heartbeat reading the kernel slowly never holds up an apply.

Ordering is asserted with events, not timings: the heartbeat's read is held open (it waits for an event
the test sets only after the apply was reported), so an apply that needed the heartbeat's lock would
never finish and the test would fail after its generous timeout instead of hanging.
tests/lab/test_lab_delta.py does the same against the real kernel.
"""

from __future__ import annotations

import threading

from lvsweb_agent.envelope import generate_private_key, seal

from .docs import director_doc, tun_dest
from .simkernel import SimulatedKernel, director_handler

CONTROL = generate_private_key()
HOUSEKEEPING = "slow-housekeeping"
NOW = 1_800_000_000.0


class SlowReads(SimulatedKernel):
    """Reads made from the housekeeping thread wait until the test releases them."""

    def __init__(self) -> None:
        super().__init__()
        self.reading = threading.Event()
        self.release = threading.Event()

    def read(self, desired):
        if threading.current_thread().name == HOUSEKEEPING:
            self.reading.set()
            assert self.release.wait(120), "never released"
        return super().read(desired)


def document(revision: int, weight: int) -> dict:
    dests = [tun_dest("10.20.0.11"), {**tun_dest("10.20.0.12"), "weight": weight}]
    service = {"protocol": "tcp", "address": "10.10.0.100", "port": 80, "scheduler": "rr", "real_servers": dests}
    return director_doc([service], revision=revision, drain_timeout=0)


def command(serial: int, weight: int) -> dict:
    payload = {"kind": "apply", "host": "director1", "serial": serial, "deployment": serial,
               "issued_at": NOW, "expires_at": NOW + 60, "document": document(serial, weight)}  # fmt: skip
    return seal(payload, CONTROL, "control")


def test_an_apply_completes_while_a_heartbeat_is_still_reading_the_kernel(tmp_path):
    kernel, reports = SlowReads(), []
    handler = director_handler(tmp_path, kernel, CONTROL.public_key(), reports.append, clock=lambda: NOW)
    handler.handle(command(1, weight=1))
    assert reports[-1]["status"] == "applied"

    heartbeat = threading.Thread(target=handler.heartbeat, name=HOUSEKEEPING)
    heartbeat.start()
    assert kernel.reading.wait(60), "the heartbeat never read the kernel"
    # The heartbeat is inside its read of the table, and stays there: an apply runs meanwhile.
    applied = threading.Event()
    applier = threading.Thread(target=lambda: (handler.handle(command(2, weight=5)), applied.set()))
    applier.start()
    finished = applied.wait(60)
    still_reading = heartbeat.is_alive()
    kernel.release.set()
    applier.join(60)
    heartbeat.join(60)

    assert finished, "the apply waited for the heartbeat's read"
    assert still_reading  # the apply finished while the heartbeat was still reading
    kinds = [(report["kind"], report.get("status")) for report in reports]
    assert kinds[2:] == [("deployment", "applying"), ("deployment", "applied"), ("heartbeat", None)]
    assert kernel.services[next(iter(kernel.services))].real_servers[1].weight == 5
    # The heartbeat read again after the apply that ran during its read: it reports what is now, in sync.
    assert reports[-1]["facts"]["drift"] == [] and reports[-1]["facts"]["applied_serial"] == 2
