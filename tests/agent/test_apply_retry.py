"""The agent's apply when the kernel is busy for a moment (EBUSY, ENOBUFS, ...): tried again, re-planned from
what the kernel then holds; a permanent refusal (EINVAL) is reported at once, never retried.

The real kernel cannot be made busy on demand, so this runs CommandHandler on the simulated kernel (the same
one the planner's property tests use) with a failure injected for chosen operations; the lab tests cover the
real netlink path.
"""

from __future__ import annotations

import errno

from lvsweb_agent.envelope import generate_private_key, seal
from lvsweb_agent.retry import Backoff
from lvsweb_agent.serial import load_applied_serial

from .docs import director_doc, tun_dest
from .simkernel import SimulatedKernel, director_handler

CONTROL = generate_private_key()
QUICK = Backoff(attempts=4, base=0.01, cap=0.02)


class BusyKernel(SimulatedKernel):
    """Answers `code` for adding real server `address`, the first `times` times it is asked; `read_errors`
    OSErrors are raised by the next reads of the table."""

    def __init__(self, address: str = "", code: int = errno.EBUSY, times: int = 0, read_errors: list | None = None):
        super().__init__(unroutable=frozenset({"10.20.0.99"}))
        self.address, self.code, self.times = address, code, times
        self.read_errors = list(read_errors or [])
        self.executions = 0

    def read(self, desired):
        if self.read_errors:
            raise self.read_errors.pop(0)
        return super().read(desired)

    def execute(self, operations):
        self.executions += 1
        return super().execute(operations)

    def _apply(self, op) -> int:
        if op.kind == "add-dest" and op.dest.address == self.address and self.times:
            self.times -= 1
            return self.code
        return super()._apply(op)


def apply(tmp_path, kernel, *addresses: str) -> dict:
    reports: list[dict] = []
    handler = director_handler(tmp_path, kernel, CONTROL.public_key(), reports.append, apply_backoff=QUICK)
    service = {
        "protocol": "tcp",
        "address": "10.10.0.100",
        "port": 80,
        "scheduler": "rr",
        "real_servers": [tun_dest(address) for address in addresses],
    }
    document = director_doc([service], revision=5, drain_timeout=0)
    payload = {"kind": "apply", "host": "director1", "serial": 5, "deployment": 9, "document": document}
    handler.handle(seal({**payload, "issued_at": 0, "expires_at": 4e9}, CONTROL, "control"))
    applying, final = reports
    assert applying["status"] == "applying"
    return final


def targets(report: dict, done: bool = True) -> list[str]:
    return [op["target"] for op in report["operations"] if op["done"] is done]


def test_a_busy_kernel_is_asked_again_and_the_report_lists_every_operation_once(tmp_path):
    kernel = BusyKernel(address="10.20.0.12", code=errno.EBUSY, times=2)
    report = apply(tmp_path, kernel, "10.20.0.11", "10.20.0.12")
    assert report["status"] == "applied" and report["error"] == ""
    assert kernel.executions == 3  # two busy answers, then the rest
    dests = sorted(d.address for d in next(iter(kernel.services.values())).real_servers)
    assert dests == ["10.20.0.11", "10.20.0.12"]
    done = targets(report)
    assert done.count("tcp 10.10.0.100:80 -> 10.20.0.11:80") == 1  # done by the first try, not repeated
    assert done.count("tcp 10.10.0.100:80 -> 10.20.0.12:80") == 1
    assert targets(report, done=False) == []
    assert load_applied_serial(tmp_path) == 5


def test_a_read_that_runs_out_of_buffer_space_is_tried_again(tmp_path):
    kernel = BusyKernel(read_errors=[OSError(errno.ENOBUFS, "No buffer space available")])
    report = apply(tmp_path, kernel, "10.20.0.11")
    assert report["status"] == "applied"
    assert "tcp 10.10.0.100:80 -> 10.20.0.11:80" in targets(report)


def test_a_kernel_busy_through_every_try_fails_clearly_after_the_bound(tmp_path):
    kernel = BusyKernel(address="10.20.0.12", code=errno.ENOBUFS, times=100)
    report = apply(tmp_path, kernel, "10.20.0.11", "10.20.0.12")
    assert report["status"] == "failed"
    assert kernel.executions == QUICK.attempts
    assert report["error"].startswith("the kernel refused real server 10.20.0.12:80")
    assert "(ENOBUFS)" in report["error"] and "(still refused after 4 tries over " in report["error"]
    [refused] = [op for op in report["operations"] if "error" in op]
    assert refused["target"] == "tcp 10.10.0.100:80 -> 10.20.0.12:80" and not refused["done"]
    assert targets(report).count("tcp 10.10.0.100:80 -> 10.20.0.11:80") == 1


def test_a_read_error_through_every_try_fails_with_the_count(tmp_path):
    kernel = BusyKernel(read_errors=[OSError(errno.EBUSY, "Device or resource busy")] * 10)
    report = apply(tmp_path, kernel, "10.20.0.11")
    assert report["status"] == "failed"
    assert report["error"].startswith("applying: gave up after 4 attempts over ")
    assert report["error"].endswith("Device or resource busy")


def test_a_permanent_refusal_is_not_retried(tmp_path):
    kernel = BusyKernel()
    report = apply(tmp_path, kernel, "10.20.0.11", "10.20.0.99")  # unroutable: EINVAL
    assert report["status"] == "failed" and kernel.executions == 1
    assert report["error"].startswith("the kernel refused real server 10.20.0.99:80: address not unicast")
    assert "tries" not in report["error"]
