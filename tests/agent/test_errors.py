"""Kernel refusals in the words an operator can act on."""

from __future__ import annotations

import errno

from lvsweb_agent.errors import explain
from lvsweb_agent.model import RealServer, Service, ServiceKey
from lvsweb_agent.planner import Operation

WEB = Service(ServiceKey.for_address("tcp", "10.10.0.100", 80), "mh")
RS = RealServer("10.20.0.11", 80, 1, "tun")


def test_unroutable_real_server():
    op = Operation("add-dest", service=WEB, dest=RS)
    assert explain(op, errno.EINVAL) == (
        "the kernel refused real server 10.20.0.11:80: address not unicast or no route to it in this namespace (EINVAL)"
    )


def test_missing_scheduler_module_points_to_check():
    op = Operation("add-service", service=WEB)
    assert explain(op, errno.ENOENT) == (
        "the kernel refused service tcp 10.10.0.100:80: scheduler module ip_vs_mh not found in this kernel; "
        "see `lvsweb-agent check` (ENOENT)"
    )


def test_missing_service_and_real_server():
    assert explain(Operation("add-dest", service=WEB, dest=RS), errno.ESRCH) == (
        "the kernel refused real server 10.20.0.11:80: service tcp 10.10.0.100:80 does not exist (ESRCH)"
    )
    assert explain(Operation("del-dest", service=WEB, dest=RS), errno.ENOENT) == (
        "the kernel refused real server 10.20.0.11:80: no such real server in service tcp 10.10.0.100:80 (ENOENT)"
    )
    assert explain(Operation("add-service", service=WEB), errno.EEXIST) == (
        "the kernel refused service tcp 10.10.0.100:80: it already exists (EEXIST)"
    )


def test_kernel_extended_ack_text_is_kept():
    op = Operation("edit-dest", service=WEB, dest=RS)
    assert explain(op, errno.EOPNOTSUPP, "Unsupported tunnel type").endswith(
        "see `lvsweb-agent check` (EOPNOTSUPP: Unsupported tunnel type)"
    )


def test_missing_interface_for_a_sysctl():
    op = Operation("set-sysctl", "net.ipv4.conf.eth9.rp_filter", "= 0", name="net.ipv4.conf.eth9.rp_filter", value="0")
    assert explain(op, errno.ENOENT) == (
        "cannot set net.ipv4.conf.eth9.rp_filter: no such sysctl (does the interface exist?) (ENOENT)"
    )
