"""Kernel errors in operator words: what was refused, the likely cause, and the errno name."""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

from lvsweb_agent.model import format_hostport
from lvsweb_agent.netlink import NetlinkDecodeError, NetlinkTimeout

if TYPE_CHECKING:
    from lvsweb_agent.planner import Operation


#: What each module a recipe loads is for, in operator words.
MODULE_PURPOSES = {
    "ip_vs": "IPVS, the director's load balancer",
    "ipip": "IPv4-in-IPv4 tunnels: tunl0",
    "sit": "IPv6-in-IPv4 tunnels: sit0, for IPv6 VIPs sent to this host's IPv4 address",
    "ip6_tunnel": "tunnels over IPv6: ip6tnl0, for VIPs sent to this host's IPv6 address",
    "fou": "GUE: the UDP listener that unwraps GUE packets",
    "ip_gre": "GRE over IPv4: gre0",
    "ip6_gre": "GRE over IPv6: ip6gre0",
}


def _name(code: int) -> str:
    # Linux gives EOPNOTSUPP and ENOTSUP the same number; the kernel's code says EOPNOTSUPP.
    if code == errno.EOPNOTSUPP:
        return "EOPNOTSUPP"
    return errno.errorcode.get(code, str(code))


def _subject(op: Operation) -> str:
    if op.dest is not None and op.service is not None:
        return f"real server {format_hostport(op.dest.address, op.dest.port)} in {op.service.key}"
    if op.service is not None:
        return f"service {op.service.key}"
    return f"{op.kind} {op.target}"


def explain(op: Operation, code: int, kernel_message: str = "") -> str:
    """One line for an operation the kernel refused with errno `code`."""
    if code == errno.ETIMEDOUT and kernel_message:
        # netlink.GenericNetlink.execute: no ack within the timeout, so the outcome is unknown.
        return f"no answer from the kernel for {op.kind} {_subject(op)}: {kernel_message} (ETIMEDOUT)"
    if code == errno.EBADMSG and kernel_message:
        return f"the kernel's answer for {op.kind} {_subject(op)} could not be read: {kernel_message} (EBADMSG)"
    tail = f" ({_name(code)}" + (f": {kernel_message}" if kernel_message else "") + ")"
    kind = op.kind
    service = str(op.service.key) if op.service is not None else ""
    if op.dest is not None:
        dest = format_hostport(op.dest.address, op.dest.port)
        if code == errno.EINVAL and kind == "add-dest":
            return (
                f"the kernel refused real server {dest}: address not unicast or no route to it in this namespace{tail}"
            )
        if code == errno.ESRCH:
            return f"the kernel refused real server {dest}: service {service} does not exist{tail}"
        if code == errno.EEXIST:
            return f"the kernel refused real server {dest}: it already exists in service {service}{tail}"
        if code == errno.ENOENT:
            return f"the kernel refused real server {dest}: no such real server in service {service}{tail}"
        if code == errno.EOPNOTSUPP:
            return (
                f"the kernel refused real server {dest}: this kernel does not support its forwarding "
                f"or tunnel settings ({op.dest.describe()}); see `lvsweb-agent check`{tail}"
            )
        if code == errno.EINVAL:
            return f"the kernel refused real server {dest} in {service}: invalid settings{tail}"
        return f"the kernel refused real server {dest} in {service}: {os.strerror(code)}{tail}"
    if op.service is not None:
        scheduler = op.service.scheduler
        if code == errno.ENOENT and kind in ("add-service", "edit-service"):
            return (
                f"the kernel refused service {service}: scheduler module ip_vs_{scheduler} not found "
                f"in this kernel; see `lvsweb-agent check`{tail}"
            )
        if code == errno.EOPNOTSUPP:
            return (
                f"the kernel refused service {service}: not supported by this kernel (scheduler "
                f"{scheduler} missing or unable to handle this address family); see `lvsweb-agent check`{tail}"
            )
        if code == errno.EEXIST:
            return f"the kernel refused service {service}: it already exists{tail}"
        if code == errno.ESRCH:
            return f"the kernel refused service {service}: no such service{tail}"
        if code == errno.EINVAL:
            return f"the kernel refused service {service}: invalid settings ({op.service.describe()}){tail}"
        return f"the kernel refused service {service}: {os.strerror(code)}{tail}"
    if kind == "load-module" and op.target != "ip_vs":
        purpose = MODULE_PURPOSES.get(op.target, "")
        return (
            f"cannot load kernel module {op.target}" + (f" ({purpose})" if purpose else "") + ": this kernel "
            f"lacks it or refused it; see `lvsweb-agent check`{tail}"
        )
    if kind == "add-link" and code == errno.EEXIST:
        return (
            f"cannot add {op.target} ({op.detail}): another tunnel device of this host already takes GRE packets "
            f"sent to that address without a key; remove it (`ip -d link show type {op.value}`){tail}"
        )
    if kind == "add-fou" and code == errno.ENOPROTOOPT:
        return f"cannot add the {op.target} listener: the fou module is not loaded (GUE needs it){tail}"
    if kind == "set-sysctl" and code == errno.ENOENT:
        return f"cannot set {op.name}: no such sysctl (does the interface exist?){tail}"
    if kind in ("add-address", "del-address", "link-up") and code == errno.ENODEV:
        return f"cannot {kind} {op.target}: no such interface{tail}"
    if code == errno.EPERM or code == errno.EACCES:
        return f"cannot {kind} {op.target}: permission denied (the agent must run as root){tail}"
    return f"cannot {kind} {op.target}: {os.strerror(code)}{tail}"


def describe_exception(exc: BaseException) -> str:
    """An exception in operator words: the kernel's unreadable or missing answers say what happened and
    that nothing was changed; others give their message (an OSError its strerror), or their type."""
    if isinstance(exc, NetlinkDecodeError):
        return (
            f"could not read the kernel's answer, nothing was changed: {exc} "
            "(this agent does not understand what this kernel sent; see `lvsweb-agent check`)"
        )
    if isinstance(exc, NetlinkTimeout):
        return f"{exc}, nothing was changed (the kernel is stuck or overloaded; try again)"
    text = str(exc).strip()
    if isinstance(exc, OSError) and exc.strerror:
        text = f"{exc.strerror}" + (f": {exc.filename}" if exc.filename else "")
    return text or type(exc).__name__
