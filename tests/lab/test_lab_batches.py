"""Applies bigger than one netlink batch, on the real kernel: a refusal in the second batch, and lost acks.

The agent sends IPVS requests up to 400 per `send()` (agents/lvsweb_agent/netlink.py). The kernel handles every
request of a batch, also after one it refused, so what the agent reports is checked against the kernel's
own table (`ipvsadm -Sn`), request by request: done means in the kernel, not attempted means absent.
"""

from __future__ import annotations

import errno
import re
import socket
import time
from pathlib import Path

import labdocs
import pytest
from labnet import VIP, Lab
from lvsweb_agent.agent import Agent
from lvsweb_agent.netlink import SOL_NETLINK, batches, encode_operation
from lvsweb_agent.planner import IPVS_KINDS, Operation

pytestmark = pytest.mark.lab

SERVICES, PER_SERVICE, FIRST_PORT = 250, 3, 1000
MULTICAST = "224.0.0.5"  # the kernel refuses it as a real server with EINVAL ("address not unicast")
NETLINK_NO_ENOBUFS = 5


def document(bad: tuple[int, int] | None = None) -> dict:
    """250 services of 3 DR real servers (1,000 IPVS operations from an empty table: three batches);
    `bad` = (service, real server) gets the multicast address."""
    services = []
    for number in range(SERVICES):
        port = FIRST_PORT + number  # DR cannot map ports: the real servers listen on the service's
        servers = [
            labdocs.real_server(f"10.40.{number}.{index + 1}", port=port, forward="dr") for index in range(PER_SERVICE)
        ]
        if bad is not None and bad[0] == number:
            servers[bad[1]] = labdocs.real_server(MULTICAST, port=port, forward="dr")
        services.append(
            {
                "protocol": "tcp",
                "address": VIP,
                "port": port,
                "scheduler": "rr",
                "flags": [],
                "persistence": None,
                "one_packet": False,
                "real_servers": servers,
            }
        )
    return labdocs.changed(labdocs.director([]), lambda d: d["director"].update(services=services))


def kernel_table(lab: Lab) -> set[tuple]:
    """What the director's kernel holds: ("service", port) and ("dest", port, address) entries."""
    table: set[tuple] = set()
    for line in lab["director"].ipvs_save().splitlines():
        if match := re.match(r"-A -t \S+:(\d+) ", line):
            table.add(("service", int(match[1])))
        elif match := re.match(r"-a -t \S+:(\d+) -r (\S+):\d+ ", line):
            table.add(("dest", int(match[1]), match[2]))
    return table


def entry(op: Operation) -> tuple:
    assert op.service is not None
    if op.kind == "add-service":
        return ("service", op.service.key.port)
    assert op.kind == "add-dest" and op.dest is not None
    return ("dest", op.service.key.port, op.dest.address)


def test_a_refusal_in_the_second_batch_reports_what_was_done_and_sends_no_later_batch(network: Lab, agent_on):
    agent = agent_on("director")
    # Service 83's second real server: operation 250 + 3 * 83 + 1 = 500 of the 1,000 IPVS operations.
    result = agent.apply(document(bad=(83, 1)))

    ipvs_ops = [op for op in result.plan.operations if op.kind in IPVS_KINDS]
    ranges = batches([encode_operation(op) for op in ipvs_ops])
    assert len(ipvs_ops) == SERVICES * (1 + PER_SERVICE) and len(ranges) == 3, [len(r) for r in ranges]
    failing = ipvs_ops.index(result.failed) if result.failed in ipvs_ops else None
    assert failing == 500 and failing in ranges[1]
    # The error names the operation, in operator words.
    assert result.errno == errno.EINVAL
    assert result.error.startswith(
        f"the kernel refused real server {MULTICAST}:{FIRST_PORT + 83}: "
        "address not unicast or no route to it in this namespace"
    ), result.error
    text = str(result)
    assert f"FAILED: add-dest tcp {VIP}:{FIRST_PORT + 83} -> {MULTICAST}:{FIRST_PORT + 83}" in text, text[-2000:]

    applied, not_attempted = {id(op) for op in result.applied}, {id(op) for op in result.not_attempted}
    table = kernel_table(network)
    # Batch 1 and the requests of batch 2 before the refusal: reported done and in the kernel.
    for op in ipvs_ops[:failing]:
        assert id(op) in applied and entry(op) in table, str(op)
    # The refused one: not done, not in the kernel.
    assert id(result.failed) not in applied and entry(result.failed) not in table
    # The rest of batch 2 was already in the kernel's hands (it handles a whole send): reported done, present.
    for op in ipvs_ops[failing + 1 : ranges[1].stop]:
        assert id(op) in applied and entry(op) in table, str(op)
    # Nothing after that batch ran: batch 3 and every later operation are "not attempted" and absent.
    later = ipvs_ops[ranges[2].start :]
    assert later and all(id(op) in not_attempted and entry(op) not in table for op in later)
    tail = result.plan.operations[result.plan.operations.index(ipvs_ops[-1]) + 1 :]
    assert all(id(op) in not_attempted for op in tail)
    # The report and the kernel agree entry for entry.
    assert table == {entry(op) for op in ipvs_ops if id(op) in applied}
    last = FIRST_PORT + SERVICES - 1
    assert f"not attempted: add-dest tcp {VIP}:{last} -> 10.40.249.3:{last}" in text

    # With the address fixed, the next apply does only what is missing.
    fixed = agent.apply(document())
    assert fixed.ok, fixed.error
    done = {entry(op) for op in fixed.applied if op.kind in IPVS_KINDS}
    assert done == {("dest", FIRST_PORT + 83, "10.40.83.2")} | {entry(op) for op in later}
    assert len(kernel_table(network)) == SERVICES * (1 + PER_SERVICE)


def test_acks_the_kernel_drops_are_reported_unknown_and_no_later_batch_is_sent(network: Lab, tmp_path: Path):
    with Agent(root=tmp_path / "director", netns="director") as agent:
        plan = agent.plan(document())
        genl = agent.kernel.genl  # LinuxKernel's generic netlink socket
        # A receive buffer too small for 400 acks, and no ENOBUFS error: the kernel drops the acks that do
        # not fit without a word, which is what a lost answer looks like to the agent.
        genl.sock.setsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS, 1)
        genl.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
        genl.sock.settimeout(2.0)
        genl.timeout = 2.0
        started = time.monotonic()
        result = agent.kernel.execute(plan.operations)
        elapsed = time.monotonic() - started

    ipvs_ops = [op for op in plan.operations if op.kind in IPVS_KINDS]
    ranges = batches([encode_operation(op) for op in ipvs_ops])
    assert elapsed < 30  # one 2-s wait, not a hang
    assert result.failed is not None and result.errno == errno.ETIMEDOUT
    assert result.error.startswith(f"no answer from the kernel for {result.failed.kind} "), result.error
    assert "requests within 2 s; whether they were applied is unknown, apply again to find out" in result.error
    unanswered = [result.failed] + [op for op, _ in result.also_failed]
    acked = [op for op in result.applied if op.kind in IPVS_KINDS]
    assert acked and len(acked) + len(unanswered) == len(ranges[0])  # batch 1: acked or unknown
    assert all(op in ipvs_ops[: ranges[0].stop] for op in unanswered)
    table = kernel_table(network)
    later = ipvs_ops[ranges[1].start :]
    assert later and all(op in result.not_attempted and entry(op) not in table for op in later)
    # The kernel did apply batch 1 (only its answers were lost): applying again completes the rest.
    assert {entry(op) for op in ipvs_ops[: ranges[0].stop]} <= table
    with Agent(root=tmp_path / "director", netns="director") as agent:
        again = agent.apply(document())
    assert again.ok, again.error
    assert len(kernel_table(network)) == SERVICES * (1 + PER_SERVICE)
