"""VRRP reports from directors: states stored, failovers in History by the system, pages told live, junk refused."""

import time

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from lvsweb_agent.envelope import generate_private_key, public_key_text

from audit.models import AuditEntry
from dispatch import actions, counters
from dispatch.ha import group_statuses
from dispatch.models import DirectorRole
from tests.dispatch.test_live import communicator
from tests.factories import make_cluster_host, make_host, make_member, make_user, make_vip_group, make_virtual_service
from tests.reports import sealed_report

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_counters():
    counters._redis().delete(counters.REFUSED_KEY)
    yield
    counters._redis().delete(counters.REFUSED_KEY)


@pytest.fixture
def ha(lab):
    """The lab cluster with a second director and VIP group “web” holding the lab's VIP."""
    lab.keys["director2"] = generate_private_key()
    lab.director2 = make_host(
        hostname="director2", vip_interface="eth0", public_key=public_key_text(lab.keys["director2"])
    )
    make_cluster_host(cluster=lab.cluster, host=lab.director2, vrrp_priority=90)
    lab.group = make_vip_group(cluster=lab.cluster, name="web", vrid=51)
    lab.service.vip_group = lab.group
    lab.service.save()
    for host in (lab.director, lab.director2):
        host.agent_status = "online"
        host.save()
    return lab


def report(lab, host, **payload):
    payload = {"host": host, "kind": "ha", "sent_at": time.time(), **payload}
    return actions.handle_report(sealed_report(payload, lab.keys[host], host))


def vrrp(lab, host, state, previous, cause, at=None):
    return report(lab, host, instance="web", state=state, previous=previous, at=at or time.time(), cause=cause)


def test_states_are_stored_and_a_failover_is_in_history_by_the_system(ha):
    assert vrrp(ha, "director", "master", None, "higher priority advert") == "ha"
    assert vrrp(ha, "director2", "backup", None, "lower priority") == "ha"
    [status] = group_statuses(ha.cluster)
    assert status.holders == ["director"] and status.warning == ""
    first = AuditEntry.objects.get(action="ha.failover")
    assert first.message == "failover: director took VIP group web: higher priority advert"
    assert vrrp(ha, "director2", "master", "backup", "peer silent for 3 adverts") == "ha"
    assert vrrp(ha, "director", "fault", "master", "agent: kernel drifted") == "ha"
    failover = AuditEntry.objects.filter(action="ha.failover").latest("pk")
    assert failover.message == "failover: director2 took VIP group web from director: peer silent for 3 adverts"
    assert failover.actor_name == "system" and failover.cluster_id == ha.cluster.pk
    release = AuditEntry.objects.get(action="ha.release")
    assert release.message == "director left VIP group web (active → fault): agent: kernel drifted"
    role = DirectorRole.objects.get(host=ha.director)
    assert (role.state, role.cause) == ("fault", "agent: kernel drifted")
    # The preferred director (highest priority) coming back is a fail-back.
    vrrp(ha, "director", "backup", "fault", "agent: kernel in sync again")
    vrrp(ha, "director", "master", "backup", "higher priority advert")
    assert (
        AuditEntry.objects.filter(action="ha.failback")
        .get()
        .message.startswith("fail-back: director took VIP group web back from director2")
    )


def test_a_release_that_arrives_before_the_takeover_still_names_the_old_holder(ha):
    """The two directors' reports race (tests/lab_fullstack/test_fullstack_ha.py: ha1's "keepalived stopped"
    usually lands first): History still says whom the VIPs were taken from, and a fail-back stays one."""
    vrrp(ha, "director", "master", None, "keepalived started")
    vrrp(ha, "director2", "backup", None, "keepalived started")
    vrrp(ha, "director", "stop", "master", "keepalived stopped")
    vrrp(ha, "director2", "master", "backup", "peer silent for 3 adverts")
    failover = AuditEntry.objects.filter(action="ha.failover").latest("pk")
    assert failover.message == "failover: director2 took VIP group web from director: peer silent for 3 adverts"
    assert failover.changes == {"holder": ["director", "director2"]}
    # director back with preemption: director2's "backup" first, then director's "master".
    vrrp(ha, "director", "backup", "stop", "keepalived started")
    vrrp(ha, "director2", "backup", "master", "higher priority advert")
    vrrp(ha, "director", "master", "backup", "higher priority advert")
    failback = AuditEntry.objects.get(action="ha.failback")
    assert failback.message == "fail-back: director took VIP group web back from director2: higher priority advert"
    # Nobody held it since director's own release: no "from".
    vrrp(ha, "director", "fault", "master", "uplink eth0 down")
    vrrp(ha, "director", "master", "fault", "fit again")
    assert (
        AuditEntry.objects.filter(action="ha.failover").latest("pk").message
        == "failover: director took VIP group web: fit again"
    )


def test_split_brain_and_nobody_are_warned(ha):
    vrrp(ha, "director", "master", None, "")
    vrrp(ha, "director2", "master", None, "")
    [status] = group_statuses(ha.cluster)
    assert "Split brain" in status.warning and status.holders == ["director", "director2"]
    vrrp(ha, "director", "fault", "master", "uplink eth0 down")
    vrrp(ha, "director2", "fault", "master", "uplink eth0 down")
    assert "No director holds" in group_statuses(ha.cluster)[0].warning


def test_heartbeat_facts_fill_in_a_lost_report(ha):
    payload = {"host": "director2", "kind": "heartbeat", "sent_at": time.time()}
    payload["facts"] = {"ha": {"web": {"state": "master", "since": time.time() - 5}}, "ha_error": ""}
    actions.handle_report(sealed_report(payload, ha.keys["director2"], "director2"))
    assert DirectorRole.objects.get(host=ha.director2).state == "master"
    assert AuditEntry.objects.get(action="ha.failover").message.endswith("seen in a heartbeat")


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"instance": "web; rm -rf", "state": "master"}, "invalid"),
        ({"instance": "web", "state": "king"}, "invalid"),
        ({"instance": "web", "state": "master", "at": "yesterday"}, "invalid"),
        ({"instance": "web", "state": "master", "cause": "x" * 5000}, "invalid"),
        ({"instance": "mail", "state": "master"}, "unknown_instance"),
    ],
)
def test_junk_is_refused_and_counted(ha, fields, reason):
    payload = {"previous": None, "at": time.time(), "cause": "", **fields}
    assert report(ha, "director", **payload) == "rejected"
    assert not DirectorRole.objects.exists()
    assert counters.refused_reports() == {("ha", reason): 1}
    assert AuditEntry.objects.filter(action="agent.report_rejected", result="refused").count() == 1


def test_junk_heartbeat_facts_are_counted(ha):
    payload = {"host": "director", "kind": "heartbeat", "sent_at": time.time(), "facts": {"ha": ["web"]}}
    actions.handle_report(sealed_report(payload, ha.keys["director"], "director"))
    assert counters.refused_reports() == {("ha", "invalid_facts"): 1}
    assert not DirectorRole.objects.exists()


def test_a_member_sees_the_holder_change_live(ha):
    user = make_user(staff=False)
    make_member(user, role="viewer")

    async def scenario():
        client = communicator(user)
        connected, _ = await client.connect()
        assert connected
        await database_sync_to_async(vrrp)(ha, "director2", "master", "backup", "peer silent for 3 adverts")
        event = await client.receive_json_from(timeout=5)
        await client.disconnect()
        return event

    event = async_to_sync(scenario)()
    assert (event["type"], event["group"], event["holders"]) == ("ha", "web", ["director2"])
    assert {role["host"]: role["state"] for role in event["roles"]} == {"director": "unknown", "director2": "master"}


def test_another_clusters_instance_names_are_prefixed(ha):
    other = make_vip_group(cluster=make_cluster_host(host=ha.director).cluster, name="web", vrid=52)
    make_virtual_service(cluster=other.cluster, vip_group=other)
    assert report(ha, "director", instance="web", state="master", previous=None, at=time.time()) == "rejected"
    assert report(ha, "director", instance="web-web", state="master", previous=None, at=time.time()) == "ha"
    assert DirectorRole.objects.get().vip_group == ha.group  # the lab cluster's slug is "web"
