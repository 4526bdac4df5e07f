"""A host taken out of a cluster is cleaned up by the cluster's next apply: it is sent its document without the
cluster, and its agent removes what it set up for it.

Real parts: the console's actions and pages, the real Redis broker (each command is taken from the host's queue
as its agent would take it), the agent's own command handler verifying and applying it; the kernel is the
simulated one (tests/agent/simkernel.py). The real kernel's side is tests/lab/test_lab_host_removal.py.
"""

import re

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st
from lvsweb_agent.agent import Agent
from lvsweb_agent.broker_commands import CommandHandler
from lvsweb_agent.envelope import load_public_key, open_envelope
from lvsweb_agent.model import Address
from lvsweb_agent.persist import MODULES_CONF, SYSCTL_CONF

from clusters import actions as inventory
from clusters.choices import HostRole
from dispatch import actions
from dispatch.models import Deployment
from dispatch.signing import control_public_key_text
from tests.agent.simkernel import SimulatedKernel
from tests.console_dispatch.conftest import browser_as
from tests.dispatch.broker import purge, take_commands
from tests.dispatch.conftest import LAB_QUEUES
from tests.factories import make_cluster, make_cluster_host, make_real_server, make_virtual_service
from tests.reports import sealed_report

pytestmark = pytest.mark.django_db(transaction=True)

WEB_VIP = Address(interface="tunl0", address="10.10.0.100", prefix=32)
API_VIP = Address(interface="tunl0", address="10.10.0.200", prefix=32)
ROW = re.compile(
    r'<td data-label="Operation"><code>(?P<op>[\w-]+)</code></td>\s*<td data-label="On"><code>(?P<on>[^<]*)<'
)


class HostAgent:
    """One lab host's agent: its own command handler on a simulated kernel, reporting to the console."""

    def __init__(self, lab, hostname: str, root):
        self.lab, self.hostname = lab, hostname
        self.kernel = SimulatedKernel()
        self.reports: list[dict] = []
        self.handler = CommandHandler(
            host=hostname,
            root=root,
            control_key=load_public_key(control_public_key_text()),
            report=self.reports.append,
            agent_factory=lambda: Agent(root=root, kernel=self.kernel),
        )

    def take_and_run(self) -> dict:
        """Run the command the console queued for this host; hand its reports to the console. The command."""
        [envelope] = take_commands(f"lvsweb.host.{self.hostname}")
        self.reports.clear()
        self.handler.handle(envelope)
        for report in self.reports:
            actions.handle_report(sealed_report(report, self.lab.keys[self.hostname], self.hostname))
        return open_envelope(envelope, load_public_key(control_public_key_text()))

    def heartbeat(self) -> None:
        heartbeat = self.handler.heartbeat()
        actions.handle_report(sealed_report(heartbeat, self.lab.keys[self.hostname], self.hostname))


@pytest.fixture
def agents(lab, tmp_path):
    """The lab cluster's revision 1 applied by the three hosts' agents."""
    hosts = {name: HostAgent(lab, name, tmp_path / name) for name in ("director", "rs1", "rs2")}
    actions.apply_cluster(acting_user=None, cluster=lab.cluster)
    for agent in hosts.values():
        agent.take_and_run()
    assert WEB_VIP in hosts["rs2"].kernel.addresses
    yield hosts
    for agent in hosts.values():
        agent.handler.close()


def take_out(lab, host) -> None:
    """What an operator does: delete the host's real servers in the cluster, then its role."""
    for real_server in lab.service.real_servers.filter(host=host):
        inventory.delete_real_server(acting_user=None, real_server=real_server)
    inventory.remove_host_role(acting_user=None, cluster_host=lab.cluster.cluster_hosts.get(host=host))


def plan_rows(body: str, hostname: str) -> list[tuple[str, str]]:
    section = body.split(f'id="host-{hostname}"', 1)[1].split("</section>", 1)[0]
    return [(m["op"], m["on"].replace("&gt;", ">")) for m in ROW.finditer(section)]


def test_a_real_server_taken_out_is_shown_in_the_plan_and_cleaned_up_by_the_apply(lab, agents):
    rs1, rs2 = agents["rs1"], agents["rs2"]
    take_out(lab, lab.rs2)

    body = browser_as("operator").get("/clusters/web/plan/").content.decode()
    section = body.split('id="host-rs2"', 1)[1].split("</section>", 1)[0]
    assert "taken out of the cluster" in section
    assert "its agent removes what it set up for this cluster" in section
    assert "sends this host nothing" not in body
    assert plan_rows(body, "rs2") == [
        ("del-address", "10.10.0.100/32 on tunl0"),
        ("remove-file", SYSCTL_CONF),
        ("remove-file", MODULES_CONF),
    ]
    confirm = browser_as("operator").get("/clusters/web/apply/").content.decode()
    assert "rs2</a> (taken out of the cluster): 3 operations" in confirm
    assert "Apply to 3 hosts" in confirm

    # Asking the agents: rs2's agent is asked too, and says what it would remove from its real kernel.
    actions.plan_cluster(acting_user=None, cluster=lab.cluster)
    for agent in agents.values():
        agent.take_and_run()
    plan = Deployment.objects.get(kind="plan", host=lab.rs2)
    assert plan.status == "applied"
    assert [(op["op"], op["target"]) for op in plan.operations] == [
        ("del-address", "10.10.0.100/32 on tunl0"),
        ("remove-file", SYSCTL_CONF),
        ("remove-file", MODULES_CONF),
    ]

    revision = actions.apply_cluster(acting_user=None, cluster=lab.cluster)
    assert sorted(revision.deployments.values_list("host__hostname", "serial")) == [
        ("director", 2),
        ("rs1", 2),
        ("rs2", 2),
    ]
    command = rs2.take_and_run()
    assert (command["kind"], command["cluster"], command["cluster_revision"]) == ("apply", "web", 2)
    assert command["document"] == {"version": 1, "host": "rs2", "revision": 2, "director": None, "real_server": None}
    assert WEB_VIP not in rs2.kernel.addresses and rs2.kernel.files == {}
    cleanup = revision.deployments.get(host=lab.rs2)
    cleanup.refresh_from_db()
    assert cleanup.status == "applied"
    assert ("del-address", "10.10.0.100/32 on tunl0", True) in [
        (op["op"], op["target"], op["done"]) for op in cleanup.operations
    ]
    rs1.take_and_run()
    agents["director"].take_and_run()
    assert WEB_VIP in rs1.kernel.addresses  # the host still in the cluster keeps the VIP

    # Cleaned up: the next apply leaves rs2 alone, and the plan no longer shows it.
    revision = actions.apply_cluster(acting_user=None, cluster=lab.cluster)
    assert sorted(revision.deployments.values_list("host__hostname", flat=True)) == ["director", "rs1"]
    assert 'id="host-rs2"' not in browser_as("viewer").get("/clusters/web/plan/").content.decode()


def test_a_host_in_two_clusters_keeps_the_other_clusters_config(lab, agents):
    rs1 = agents["rs1"]
    purge("lvsweb.host.rs1")
    api = make_cluster(name="api", slug="api")
    make_cluster_host(cluster=api, host=lab.director, role=HostRole.DIRECTOR)
    make_cluster_host(cluster=api, host=lab.rs1, role=HostRole.REAL_SERVER)
    service = make_virtual_service(cluster=api, address="10.10.0.200", port=443, scheduler="rr")
    make_real_server(virtual_service=service, address="10.20.0.11", port=443, host=lab.rs1)
    actions.apply_cluster(acting_user=None, cluster=api)
    rs1.take_and_run()
    agents["director"].take_and_run()
    assert {WEB_VIP, API_VIP} <= set(rs1.kernel.addresses)

    take_out(lab, lab.rs1)
    body = browser_as("operator").get("/clusters/web/plan/").content.decode()
    assert plan_rows(body, "rs1") == [("del-address", "10.10.0.100/32 on tunl0")]
    revision = actions.apply_cluster(acting_user=None, cluster=lab.cluster)

    command = rs1.take_and_run()
    assert command["document"]["real_server"]["tun"]["vips"] == ["10.10.0.200"]
    assert revision.deployments.get(host=lab.rs1).serial == 3  # web 1, api 1, web 2: one serial per host
    assert API_VIP in rs1.kernel.addresses and WEB_VIP not in rs1.kernel.addresses
    assert rs1.kernel.files[SYSCTL_CONF]  # still needed by the api cluster's VIP


def test_a_director_taken_out_loses_the_vip_and_its_services_drain_as_the_cluster_says(lab, agents):
    director = agents["director"]
    take_out(lab, lab.director)
    body = browser_as("operator").get("/clusters/web/plan/").content.decode()
    assert plan_rows(body, "director") == [
        ("drain-dest", "tcp 10.10.0.100:80 -> 10.20.0.11:80"),
        ("drain-dest", "tcp 10.10.0.100:80 -> 10.20.0.12:80"),
        ("del-address", "10.10.0.100/32 on eth0"),
        ("remove-file", MODULES_CONF),
    ]

    actions.apply_cluster(acting_user=None, cluster=lab.cluster)
    command = director.take_and_run()

    assert command["document"]["director"] == {
        "owns_ipvs_table": False,
        "drain_timeout": 30,  # the cluster's, not the agent's default of 300 s
        "ip_forward": False,
        "vips": [],
        "services": [],
    }
    assert not any(address.address == "10.10.0.100" for address in director.kernel.addresses)
    [service] = director.kernel.services.values()
    assert {dest.weight for dest in service.real_servers} == {0}  # draining: no new connections
    director.heartbeat()  # no connections left: the heartbeat finishes the drain
    assert director.kernel.services == {}


def test_a_clean_up_that_did_not_run_is_sent_again_and_a_revoked_host_fails_at_once(lab, agents):
    take_out(lab, lab.rs2)
    first = actions.apply_cluster(acting_user=None, cluster=lab.cluster)
    purge(*LAB_QUEUES)
    Deployment.objects.filter(revision=first).update(
        status="failed", error="agent offline: the command expired unanswered"
    )

    # Still compared with revision 1, the last one rs2's agent applied.
    body = browser_as("operator").get("/clusters/web/plan/").content.decode()
    assert plan_rows(body, "rs2")[0] == ("del-address", "10.10.0.100/32 on tunl0")
    second = actions.apply_cluster(acting_user=None, cluster=lab.cluster)
    assert agents["rs2"].take_and_run()["cluster_revision"] == 3
    assert WEB_VIP not in agents["rs2"].kernel.addresses
    purge(*LAB_QUEUES)

    take_out(lab, lab.rs1)
    Deployment.objects.filter(revision=second).update(status="applied")
    actions.revoke_host(acting_user=None, host=lab.rs1)
    third = actions.apply_cluster(acting_user=None, cluster=lab.cluster)
    cleanup = third.deployments.get(host=lab.rs1)
    assert cleanup.status == "failed" and cleanup.error.startswith("revoked: the console no longer trusts")
    assert not third.deployments.filter(host=lab.rs2).exists()  # its clean-up was applied
    body = browser_as("operator").get("/clusters/web/plan/").content.decode()
    assert "<strong>Will fail:</strong> revoked" in body.split('id="host-rs1"', 1)[1].split("</section>", 1)[0]


def test_a_cluster_whose_every_host_was_taken_out_cleans_them_up_then_has_nothing_to_apply(lab, agents):
    for host in (lab.rs1, lab.rs2, lab.director):
        take_out(lab, host)
    revision = actions.apply_cluster(acting_user=None, cluster=lab.cluster)
    assert revision.deployments.count() == 3
    for agent in agents.values():
        agent.take_and_run()
    assert all(agent.kernel.addresses == [] for agent in agents.values())
    with pytest.raises(ValidationError, match="This cluster has no hosts yet"):
        actions.apply_cluster(acting_user=None, cluster=lab.cluster)


# -- the compiler's part, as a property: the pure function, on any two clusters sharing hosts ----------------

HOSTNAMES = ("lb1", "lb2", "web1", "web2")


def _snapshot(slug: str, drain_timeout: int, roles: dict[str, str], vips: list[str]) -> dict:
    real_servers = [name for name, role in roles.items() if role == HostRole.REAL_SERVER]
    return {
        "cluster": {"id": 1, "name": slug, "slug": slug, "drain_timeout": drain_timeout},
        "hosts": [
            {"hostname": name, "role": role, "vip_interface": "eth0", "uplinks": ["eth0"]}
            for name, role in sorted(roles.items())
        ],
        "virtual_services": [
            {
                "name": "",
                "protocol": "tcp",
                "address": vip,
                "port": 80,
                "fwmark": None,
                "address_family": "ipv4",
                "scheduler": "rr",
                "sched_fallback": False,
                "sched_port": False,
                "persistence_timeout": 0,
                "persistence_netmask": "",
                "one_packet": False,
                "forward_method": "tun",
                "enabled": True,
                "description": "",
                "real_servers": [
                    {
                        "address": f"10.20.0.{index + 11}",
                        "port": 80,
                        "weight": 1,
                        "forward_method": "tun",
                        "tunnel_type": "ipip",
                        "tunnel_port": None,
                        "tunnel_checksum": "none",
                        "upper_threshold": 0,
                        "lower_threshold": 0,
                        "state": "active",
                        "description": "",
                        "host": name,
                    }
                    for index, name in enumerate(real_servers)
                ],
            }
            for vip in vips
        ],
    }


cluster_roles = st.dictionaries(st.sampled_from(HOSTNAMES), st.sampled_from([HostRole.DIRECTOR, HostRole.REAL_SERVER]))


@settings(max_examples=150, deadline=None)
@given(
    roles_a=cluster_roles.filter(bool),
    roles_b=cluster_roles,
    drain_timeout=st.sampled_from([0, 30, 300]),
    data=st.data(),
)
def test_a_host_taken_out_gets_exactly_its_other_clusters_document(roles_a, roles_b, drain_timeout, data):
    from lvsweb_agent.document import parse_document, validate_schema

    from clusters.compiler import compile_documents

    hostname = data.draw(st.sampled_from(sorted(roles_a)))
    serials = dict.fromkeys(HOSTNAMES, 7)
    b = _snapshot("b", 60, roles_b, ["10.10.0.200"])
    # Its role is gone; its real servers may still be listed (the operator did not delete them): no recipe then.
    a_after = _snapshot("a", drain_timeout, roles_a, ["10.10.0.100"])
    a_after["hosts"] = [entry for entry in a_after["hosts"] if entry["hostname"] != hostname]

    documents = compile_documents([a_after, b], serials, {hostname: [roles_a[hostname]]})
    document = documents[hostname]

    expected = compile_documents([b], serials).get(hostname) or {
        "version": 1,
        "host": hostname,
        "revision": 7,
        "director": None,
        "real_server": None,
    }
    if roles_a[hostname] == HostRole.DIRECTOR and expected["director"] is None:
        expected["director"] = {
            "owns_ipvs_table": False,
            "drain_timeout": drain_timeout,
            "ip_forward": False,
            "vips": [],
            "services": [],
        }
    assert document == expected
    assert "10.10.0.100" not in str(document)
    assert validate_schema(document) == []
    parse_document(document)
    for other in set(roles_a) - {hostname}:  # the hosts still in the cluster keep its config
        assert "10.10.0.100" in str(documents[other])
