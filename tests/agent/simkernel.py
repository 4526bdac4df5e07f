"""An in-memory kernel for the planner's property tests: IPVS table, links, addresses, sysctls, files.

It follows the kernel's rules the planner relies on (EEXIST, ESRCH, ENOENT, EINVAL for unroutable real
servers, deleting a service deletes its real servers). It does not replace the lab tests, which run the
agent against a real kernel.
"""

from __future__ import annotations

import errno
from dataclasses import replace

from lvsweb_agent.agent import Agent
from lvsweb_agent.broker_commands import CommandHandler
from lvsweb_agent.decap import KIND_OF_DEVICE, MODULE_OF_DEVICE
from lvsweb_agent.errors import explain
from lvsweb_agent.kernel import ExecutionResult
from lvsweb_agent.model import ActualState, DesiredState, DestCounters, Link, Service
from lvsweb_agent.persist import wanted_files, wanted_sysctls


class SimulatedKernel:
    """Implements the KernelIPVS protocol on plain data."""

    def __init__(self, unroutable: frozenset[str] = frozenset()):
        self.services: dict = {}
        self.links = {"lo": Link("lo", 1, True), "eth0": Link("eth0", 2, True)}
        self.addresses: list = []
        self.sysctls: dict[str, str] = {}
        self.files: dict[str, str] = {}
        self.unroutable = unroutable
        self.ipvs_loaded = True
        self.fou_available = False
        self.fou_ports: set[tuple[int, str]] = set()
        self.executed: list = []

    def read(self, desired: DesiredState | None) -> ActualState:
        state = ActualState(
            ipvs_loaded=self.ipvs_loaded,
            services=dict(self.services),
            links={name: replace(link) for name, link in self.links.items()},
            addresses=list(self.addresses),
            fou_available=self.fou_available,
            fou_ports=set(self.fou_ports),
        )
        if desired is not None:
            for name, _, _ in wanted_sysctls(desired):
                state.sysctls[name] = self.sysctls.get(name)
            for name in wanted_files(desired):
                state.files[name] = self.files.get(name)
        return state

    def set_connections(self, service_key, address: str, port: int, active: int, inactive: int = 0) -> None:
        service = self.services[service_key]
        dests = tuple(
            replace(d, counters=DestCounters(active_conns=active, inactive_conns=inactive))
            if d.key == (address, port)
            else d
            for d in service.real_servers
        )
        self.services[service_key] = replace(service, real_servers=dests)

    def _apply(self, op) -> int:
        kind = op.kind
        services = self.services
        if kind == "add-service":
            if op.service.key in services:
                return errno.EEXIST
            services[op.service.key] = replace(op.service, real_servers=())
        elif kind == "edit-service":
            current = services.get(op.service.key)
            if current is None:
                return errno.ESRCH
            services[op.service.key] = replace(op.service, real_servers=current.real_servers)
        elif kind == "del-service":
            if services.pop(op.service.key, None) is None:
                return errno.ESRCH
        elif kind in ("add-dest", "edit-dest", "drain-dest", "del-dest"):
            current = services.get(op.service.key)
            if current is None:
                return errno.ESRCH
            dests = {d.key: d for d in current.real_servers}
            have = dests.get(op.dest.key)
            if kind == "add-dest":
                if have is not None:
                    return errno.EEXIST
                if op.dest.address in self.unroutable:
                    return errno.EINVAL
                dests[op.dest.key] = replace(op.dest, counters=DestCounters())
            elif have is None:
                return errno.ENOENT
            elif kind == "del-dest":
                del dests[op.dest.key]
            else:
                dests[op.dest.key] = replace(op.dest, counters=have.counters)
            services[op.service.key] = replace(current, real_servers=tuple(dests.values()))
        elif kind == "load-module":
            fallbacks = [device for device, module in MODULE_OF_DEVICE.items() if module == op.target]
            for device in fallbacks:
                # ip6tnl0 comes in mode ip6ip6 (IFLA_IPTUN_PROTO 41), as the kernel makes it.
                proto = 41 if device == "ip6tnl0" else None
                self.links.setdefault(device, Link(device, 9, False, KIND_OF_DEVICE[device], tunnel_proto=proto))
            if op.target == "fou":
                self.fou_available = True
            elif not fallbacks:
                self.ipvs_loaded = True
        elif kind == "add-link":
            if op.name in self.links:
                return errno.EEXIST
            self.links[op.name] = Link(op.name, 10, False, op.value, local=op.address.address, csum=True)
        elif kind == "del-link":
            self.links.pop(op.name, None)
        elif kind == "set-link":
            if op.name not in self.links:
                return errno.ENODEV
            self.links[op.name].tunnel_proto = 0
        elif kind == "add-fou":
            if not self.fou_available:
                return errno.ENOPROTOOPT
            self.fou_ports.add((int(op.value), op.name))
        elif kind == "link-up":
            if op.name not in self.links:
                return errno.ENODEV
            self.links[op.name].up = True
        elif kind == "set-sysctl":
            self.sysctls[op.name] = op.value
        elif kind == "add-address":
            if op.address.interface not in self.links:
                return errno.ENODEV
            if op.address not in self.addresses:
                self.addresses.append(op.address)
        elif kind == "del-address":
            if op.address in self.addresses:
                self.addresses.remove(op.address)
        elif kind == "write-file":
            self.files[op.name] = op.value
        elif kind == "remove-file":
            self.files.pop(op.name, None)
        return 0

    def execute(self, operations) -> ExecutionResult:
        result = ExecutionResult()
        for index, op in enumerate(operations):
            code = self._apply(op)
            self.executed.append(op)
            if code:
                result.failed, result.errno, result.error = op, code, explain(op, code)
                result.not_attempted = list(operations[index + 1 :])
                break
            result.applied.append(op)
        return result


def service_of(services: dict, key) -> Service:
    return services[key]


def director_handler(root, kernel, control_key, report, **options) -> CommandHandler:
    """director1's command handler, its agent on `kernel` under `root`; `options` as CommandHandler takes them
    (clock, apply_backoff …)."""
    return CommandHandler(
        host="director1",
        root=root,
        control_key=control_key,
        report=report,
        agent_factory=lambda: Agent(root=root, kernel=kernel),
        **options,
    )
