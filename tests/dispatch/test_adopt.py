"""Adopting a live host through the console's actions, against the real PostgreSQL and Redis broker: the read
command and its report, the proposal, the commit and its adopting apply run by the agent's own command handler
(on a simulated kernel; tests/lab/test_lab_adopt.py does the kernel side for real)."""

import copy

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from lvsweb_agent.model import ServiceKey

from audit.models import AuditEntry
from clusters.actions.real_servers import update_real_server
from clusters.actions.virtual_services import create_virtual_service
from clusters.choices import HostRole
from clusters.models import Cluster, ClusterHost, RealServer
from dispatch import actions
from dispatch.actions.adopt import AdoptRejected, commit_adopt, preview_adopt, request_reading
from dispatch.models import Deployment, KernelReading
from teams.choices import TeamRole
from tests.agent.test_adopt import hand_configured
from tests.agent.test_broker_commands import ConsoleHost
from tests.dispatch.broker import purge
from tests.factories import default_team, make_cluster, make_member, make_user

pytestmark = pytest.mark.django_db(transaction=True)

QUEUE = "lvsweb.host.adopt-director"
VIP = "10.10.0.100"


def service(port: int, scheduler: str = "rr") -> dict:
    dests = [{"address": a, "port": port, "forward": "tun", "weight": 1} for a in ("10.20.0.11", "10.20.0.12")]
    return {"protocol": "tcp", "address": VIP, "port": port, "scheduler": scheduler, "real_servers": dests}


HAND = {"version": 1, "host": "x", "revision": 1, "director": {"services": [service(80), service(443, "wlc")]}}


@pytest.fixture(name="director")
def director_fixture(tmp_path):
    purge(QUEUE)
    host = ConsoleHost("adopt-director", tmp_path / "agent")
    host.kernel = hand_configured(tmp_path, HAND)  # the VIP on eth0, two services: typed by an administrator
    host.kernel.files.clear()  # no lvsweb-agent ever ran there: none of its files
    yield host
    purge(QUEUE)


def operator(role=TeamRole.OPERATOR):
    user = make_user()
    make_member(user, team=default_team(), role=role)
    return user


def read(director, user) -> KernelReading:
    reading = request_reading(acting_user=user, host=director.host)
    assert director.take_and_run() == ["read"]
    reading.refresh_from_db()
    return reading


NEW = {"name": "adopted", "slug": "adopted"}


def test_adopting_a_director_proposes_its_table_and_the_adopting_apply_changes_nothing(director):
    user = operator()
    reading = read(director, user)
    assert (reading.status, reading.error) == ("read", "")
    assert len(reading.reading["services"]) == 2
    new = {**NEW, "team": default_team()}

    preview = preview_adopt(acting_user=user, reading=reading, new_cluster=new)
    assert preview.imported.counts["services_create"] == 2 and preview.imported.counts["real_servers_create"] == 4
    assert preview.role == "director" and preview.kernel_operations == []
    assert {op["op"] for op in preview.operations} == {"write-file"}
    assert not Cluster.objects.filter(slug="adopted").exists()  # a preview keeps nothing

    result = commit_adopt(acting_user=user, reading=reading, new_cluster=new)
    cluster = Cluster.objects.get(slug="adopted")
    assert result.revision.number == 1
    assert ClusterHost.objects.get(cluster=cluster).role == HostRole.DIRECTOR
    director.host.refresh_from_db()
    assert director.host.vip_interface == "eth0"  # where the kernel holds the VIP
    entry = AuditEntry.objects.get(action="host.adopt")
    assert entry.actor_name == user.get_username() and "2 services created" in entry.message
    assert AuditEntry.objects.filter(action="real_server.create").count() == 4

    before = copy.deepcopy(director.kernel.services)
    assert director.take_and_run() == ["applying", "applied"]
    deployment = Deployment.objects.get(host=director.host, kind="apply")
    assert {op["op"] for op in deployment.operations} == {"write-file"}
    assert director.kernel.services == before
    ledger = director.handler.agent().ledger()
    assert ledger.services == set(before)
    assert director.heartbeat() == "heartbeat"
    director.host.refresh_from_db()
    assert director.host.drift == []

    # The next apply changes only what the operator changed.
    real_server = RealServer.objects.get(virtual_service__port=443, address="10.20.0.12")
    update_real_server(acting_user=user, real_server=real_server, changes={"weight": 4})
    actions.apply_cluster(acting_user=user, cluster=cluster)
    assert director.take_and_run() == ["applying", "applied"]
    deployment = Deployment.objects.filter(host=director.host, kind="apply").first()
    assert [(op["op"], op["target"]) for op in deployment.operations] == [
        ("edit-dest", f"tcp {VIP}:443 -> 10.20.0.12:443")
    ]


def test_a_service_left_out_is_not_adopted_and_stays_in_the_kernel(director):
    user = operator()
    reading = read(director, user)
    left_out = f"tcp {VIP}:443"
    commit_adopt(acting_user=user, reading=reading, new_cluster={**NEW, "team": default_team()}, exclude={left_out})
    assert director.take_and_run() == ["applying", "applied"]
    cluster = Cluster.objects.get(slug="adopted")
    assert [s.port for s in cluster.virtual_services.all()] == [80]
    assert ServiceKey.from_text(left_out) in director.kernel.services
    assert ServiceKey.from_text(left_out) not in director.handler.agent().ledger().services


def test_what_conflicts_with_the_inventory_is_shown_and_nothing_is_saved(director):
    user = operator()
    cluster = make_cluster(name="web", slug="web")
    create_virtual_service(
        acting_user=user,
        cluster=cluster,
        fields={"protocol": "tcp", "address": VIP, "port": 80, "scheduler": "wlc", "forward_method": "tun"},
    )
    reading = read(director, user)
    preview = preview_adopt(acting_user=user, reading=reading, cluster=cluster)
    rows = {(row.label, row.change) for row in preview.imported.rows if row.kind == "service"}
    assert rows == {(f"TCP {VIP}:80", "conflict"), (f"TCP {VIP}:443", "create")}
    assert "scheduler: wlc → rr" in str(preview.imported.errors[0])
    with pytest.raises(AdoptRejected):
        commit_adopt(acting_user=user, reading=reading, cluster=cluster)
    assert cluster.virtual_services.count() == 1 and not cluster.revisions.exists()
    # Matching settings are "unchanged": update_existing makes the cluster match the kernel.
    result = commit_adopt(acting_user=user, reading=reading, cluster=cluster, update_existing=True)
    assert result.imported.counts["services_update"] == 1 and result.revision is not None


def test_a_viewer_can_neither_read_nor_adopt(director):
    viewer = operator(TeamRole.VIEWER)
    with pytest.raises(PermissionDenied, match="operator or owner role"):
        request_reading(acting_user=viewer, host=director.host)
    reading = read(director, operator())
    with pytest.raises(PermissionDenied):
        preview_adopt(acting_user=viewer, reading=reading, new_cluster={**NEW, "team": default_team()})
    assert not KernelReading.objects.filter(requested_by_name=viewer.get_username()).exists()


def test_an_unenrolled_host_is_not_asked(director):
    director.host.public_key = ""
    director.host.save()
    with pytest.raises(ValidationError, match="never enrolled"):
        request_reading(acting_user=operator(), host=director.host)


def test_a_junk_or_huge_reading_is_refused_audited_and_counted(director, monkeypatch):
    from dispatch import counters

    user = operator()
    reading = request_reading(acting_user=user, host=director.host)
    before = counters.refused_reports().get(("reading", "junk"), 0)
    junk = {"format": 1, "services": [{"protocol": "tcp", "address": "10.0.0.1", "port": 99999}]}
    assert (
        director.send({"kind": "reading", "host": "adopt-director", "reading": reading.pk, "table": junk}) == "failed"
    )
    reading.refresh_from_db()
    assert reading.status == "failed" and "services[0]" in reading.error and reading.reading is None
    assert counters.refused_reports().get(("reading", "junk"), 0) == before + 1
    assert AuditEntry.objects.get(action="host.kernel_read").result == "refused"
    with pytest.raises(ValidationError, match="cannot be adopted"):
        preview_adopt(acting_user=user, reading=reading, new_cluster={**NEW, "team": default_team()})
    # A reading for another host's number is rejected; a second answer to the same read is late.
    assert director.send({"kind": "reading", "host": "adopt-director", "reading": "1; drop", "table": {}}) == "rejected"
    assert director.send({"kind": "reading", "host": "adopt-director", "reading": reading.pk, "table": {}}) == "late"


def test_a_real_server_configured_by_hand_is_adopted_as_one(tmp_path):
    from lvsweb_agent.model import Address, Link

    from tests.factories import make_real_server, make_virtual_service

    purge("lvsweb.host.adopt-rs")
    rs = ConsoleHost("adopt-rs", tmp_path / "rs", management_address="10.20.0.11", uplinks="eth0")
    rs.kernel.links["tunl0"] = Link("tunl0", 3, True, "ipip")
    rs.kernel.addresses = [Address("eth0", "10.20.0.11", 24), Address("tunl0", VIP, 32)]
    rs.kernel.sysctls = {f"net.ipv4.conf.{scope}.rp_filter": "0" for scope in ("all", "default", "lo", "tunl0", "eth0")}
    rs.kernel.read_sysctl = rs.kernel.sysctls.get
    cluster = make_cluster(name="web", slug="web")
    service = make_virtual_service(cluster=cluster, address=VIP, port=80, scheduler="rr")
    make_real_server(virtual_service=service, address="10.20.0.11")
    user = operator()
    reading = request_reading(acting_user=user, host=rs.host)
    try:
        assert rs.take_and_run() == ["read"]
        reading.refresh_from_db()
        preview = preview_adopt(acting_user=user, reading=reading, cluster=cluster)
        assert preview.role == "real_server" and preview.imported.rows == []
        assert preview.kernel_operations == [], preview.operations
        # With rp_filter still on, the proposal says what the adopting apply would change.
        rs.kernel.sysctls["net.ipv4.conf.tunl0.rp_filter"] = "1"
        again = request_reading(acting_user=user, host=rs.host)
        assert rs.take_and_run() == ["read"]
        again.refresh_from_db()
        preview = preview_adopt(acting_user=user, reading=again, cluster=cluster)
        assert [(op["op"], op["target"]) for op in preview.kernel_operations] == [
            ("set-sysctl", "net.ipv4.conf.tunl0.rp_filter")
        ]
    finally:
        purge("lvsweb.host.adopt-rs")


def test_a_reading_above_the_size_limit_is_refused_and_counted(director, monkeypatch):
    from dispatch import counters
    from dispatch.actions import readings

    monkeypatch.setattr(readings, "MAX_READING_BYTES", 1000)  # the real limit is 8 MB: the same rule, smaller
    reading = request_reading(acting_user=operator(), host=director.host)
    before = counters.refused_reports().get(("reading", "too_large"), 0)
    assert director.take_and_run() == ["failed"]
    reading.refresh_from_db()
    assert reading.error.startswith("the reading is ") and "more than the 1,000 accepted" in reading.error
    assert reading.reading is None
    assert counters.refused_reports().get(("reading", "too_large"), 0) == before + 1
