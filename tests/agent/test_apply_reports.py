"""An apply writes the kernel without waiting for the broker to take its `applying` report.

The `applying` report crosses the broker (in the lab, the VM's forward: a round trip); the kernel write
does not need it, so it leaves from a thread of its own while the command goes on. The reports still reach
the console in their order, `applying` before `applied`, and a command ends only once both are sent.
As in test_housekeeping.py, ordering is asserted with events: the broker here holds the `applying` report
until the test lets it go, so an apply that waited for it would never write the kernel and the test would
fail after its generous timeout instead of hanging.
"""

from __future__ import annotations

import threading

from lvsweb_agent.broker_commands import CommandHandler
from lvsweb_agent.envelope import generate_private_key, seal
from lvsweb_agent.ha import ReportOutbox

from .docs import director_doc, tun_dest
from .simkernel import SimulatedKernel, director_handler

CONTROL = generate_private_key()
NOW = 1_800_000_000.0


class WatchedKernel(SimulatedKernel):
    """Sets `written` once a batch of operations has been executed."""

    def __init__(self) -> None:
        super().__init__()
        self.written = threading.Event()

    def execute(self, operations):
        result = super().execute(operations)
        self.written.set()
        return result


class SlowBroker:
    """The reports as the console receives them; an `applying` report is held until `release` is set."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.holding = threading.Event()
        self.release = threading.Event()
        self.hold_applying = False

    def __call__(self, payload: dict) -> None:
        if self.hold_applying and payload.get("status") == "applying":
            self.holding.set()
            assert self.release.wait(120), "never released"
        self.received.append(payload)


def command(serial: int, weight: int) -> dict:
    dests = [tun_dest("10.20.0.11"), {**tun_dest("10.20.0.12"), "weight": weight}]
    service = {"protocol": "tcp", "address": "10.10.0.100", "port": 80, "scheduler": "rr", "real_servers": dests}
    document = director_doc([service], revision=serial, drain_timeout=0)
    payload = {"kind": "apply", "host": "director1", "serial": serial, "deployment": serial,
               "issued_at": NOW, "expires_at": NOW + 60, "document": document}  # fmt: skip
    return seal(payload, CONTROL, "control")


def handler_for(root, kernel: WatchedKernel, broker: SlowBroker) -> CommandHandler:
    """director1's command handler on `kernel`, reporting to `broker`."""
    return director_handler(root, kernel, CONTROL.public_key(), broker, clock=lambda: NOW)


def test_the_kernel_is_written_while_the_applying_report_waits_for_the_broker(tmp_path):
    kernel, broker = WatchedKernel(), SlowBroker()
    handler = handler_for(tmp_path, kernel, broker)
    try:
        handler.handle(command(1, weight=1))
        assert [r["status"] for r in broker.received] == ["applying", "applied"]
        broker.hold_applying, kernel.written = True, threading.Event()

        applier = threading.Thread(target=handler.handle, args=(command(2, weight=5),))
        applier.start()
        try:
            assert broker.holding.wait(60), "the applying report was never sent"
            written = kernel.written.wait(60)
            weight = kernel.services[next(iter(kernel.services))].real_servers[1].weight
            applier.join(1.0)
            still_running = applier.is_alive()  # the command ends only once its reports are sent
            sent_meanwhile = list(broker.received[2:])
        finally:
            broker.release.set()
        applier.join(60)

        assert written and weight == 5, "the kernel waited for the broker to take the applying report"
        assert still_running and sent_meanwhile == [], "the applied report overtook the applying one"
        assert [(r["status"], r["serial"]) for r in broker.received[2:]] == [("applying", 1), ("applied", 2)]
    finally:
        handler.close()


def test_a_refused_command_writes_nothing_and_is_reported_at_once(tmp_path):
    kernel, broker = WatchedKernel(), SlowBroker()
    handler = handler_for(tmp_path, kernel, broker)
    try:
        handler.handle(command(2, weight=1))
        handler.handle(command(1, weight=5))  # an older serial: the checks still come before the kernel
        assert [r.get("status", r["kind"]) for r in broker.received] == ["applying", "applied", "refusal"]
        assert broker.received[-1]["error"].startswith("stale serial: the command carries serial 1")
        assert kernel.services[next(iter(kernel.services))].real_servers[1].weight == 1
    finally:
        handler.close()


def test_a_flush_returns_once_the_reports_are_sent_also_after_the_outbox_closed():
    sent: list[dict] = []
    outbox = ReportOutbox(sent.append, name="command")
    outbox.start()
    outbox({"kind": "deployment", "status": "applying"})
    outbox.flush()
    assert sent == [{"kind": "deployment", "status": "applying"}]
    outbox.close(timeout=5)
    flushing = threading.Thread(target=outbox.flush, daemon=True)  # e.g. a heartbeat's report while the agent stops
    flushing.start()
    flushing.join(10)
    assert not flushing.is_alive(), "a flush after close() never returned"
