"""keepalived.conf's VRRP part: vrrp_instance, vrrp_sync_group and lvs_sync_daemon into VIP groups, and back."""

import pytest

from clusters.actions.imports import commit_import, preview_import
from clusters.exports import export_text
from clusters.interchange import parse
from clusters.interchange.keepalived_vrrp import vrrp_of
from clusters.models import Cluster, VipGroup, VirtualService
from teams.choices import TeamRole
from tests.factories import make_cluster, make_cluster_host, make_host, make_member, make_user, make_vip_group

pytestmark = pytest.mark.django_db

CONF = """\
global_defs {
    router_id lb1
    lvs_sync_daemon eth0 VI_WEB id 7 port 8849 ttl 2
}

vrrp_sync_group WEB_AND_API {
    group {
        VI_WEB
        VI_API
    }
}

vrrp_instance VI_WEB {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 2
    preempt_delay 10
    authentication {
        auth_type PASS
        auth_pass s3cret
    }
    unicast_src_ip 192.0.2.1
    unicast_peer {
        192.0.2.2
    }
    virtual_ipaddress {
        198.51.100.10/32 dev eth0
    }
    track_script {
        chk_haproxy
    }
}

vrrp_instance VI_API {
    virtual_router_id 52
    nopreempt
    virtual_ipaddress {
        198.51.100.11
    }
}

vrrp_instance VI_MAIL {
    virtual_router_id 60
    nopreempt
    virtual_ipaddress {
        198.51.100.12
    }
}

virtual_server 198.51.100.10 80 {
    lb_algo rr
    lb_kind TUN
    protocol TCP
    real_server 10.20.0.11 80 {
        weight 1
    }
}

virtual_server 198.51.100.11 443 {
    lb_algo rr
    lb_kind TUN
    protocol TCP
    real_server 10.20.0.11 443 {
        weight 1
    }
}

virtual_server 198.51.100.12 25 {
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 10.20.0.12 25 {
        weight 1
    }
}
"""


@pytest.fixture
def operator_user():
    user = make_user(staff=False)
    make_member(user, role=TeamRole.OPERATOR)
    return user


def test_the_parser_reads_instances_sync_groups_and_the_sync_daemon():
    result = parse(CONF, "keepalived")
    config = vrrp_of(result)
    assert result.ok, result.errors
    assert [(g.name, g.vrid, g.vips, g.preempt) for g in config.groups] == [
        ("VI_WEB", 51, ["198.51.100.10", "198.51.100.11"], True),  # the sync group's instances are one group
        ("VI_MAIL", 60, ["198.51.100.12"], False),
    ]
    web = config.groups[0]
    assert (web.advert_int, web.preempt_delay, web.unicast, web.auth_pass) == (2.0, 10, True, "s3cret")
    assert (config.sync.syncid, config.sync.port, config.sync.ttl) == (7, 8849, 2)
    not_imported = " ".join(problem.message for problem in result.not_imported)
    assert "priority" in not_imported and "each director has its own VRRP priority" in not_imported
    assert "vrrp_instance" not in not_imported.replace("in vrrp_instance", "")  # imported, not listed as left out
    assert any("vrrp_sync_group WEB_AND_API" in problem.message for problem in result.warnings)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("vrrp_instance X {\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n", "has no virtual_router_id"),
        ("vrrp_instance X {\n virtual_router_id 300\n}\n", "out of range"),
        ("vrrp_instance X {\n virtual_router_id 5\n virtual_ipaddress {\n not-an-ip\n }\n}\n", "not an IP address"),
    ],
)
def test_bad_vrrp_lines_are_errors_on_their_line(text, message):
    result = parse(text + "virtual_server 10.0.0.1 80 {\n lb_algo rr\n protocol TCP\n}\n", "keepalived")
    assert any(message in problem.message for problem in result.errors), result.errors


def test_import_creates_groups_puts_services_in_them_and_sets_sync(operator_user):
    cluster = make_cluster(slug="web")
    preview = preview_import(acting_user=operator_user, cluster=cluster, text=CONF)
    assert preview.ok, preview.errors
    assert [(row.kind, row.label, row.change) for row in preview.rows if row.kind == "vip_group"] == [
        ("vip_group", "VI_WEB", "create"),
        ("vip_group", "VI_MAIL", "create"),
    ]
    assert not VipGroup.objects.exists()
    commit_import(acting_user=operator_user, cluster=cluster, text=CONF)
    web = VipGroup.objects.get(cluster=cluster, name="VI_WEB")
    assert (web.vrid, web.unicast, web.auth_pass, web.preempt_delay) == (51, True, "s3cret", 10)
    grouped = dict(VirtualService.objects.filter(cluster=cluster).values_list("address", "vip_group__name"))
    assert grouped == {"198.51.100.10": "VI_WEB", "198.51.100.11": "VI_WEB", "198.51.100.12": "VI_MAIL"}
    cluster = Cluster.objects.get(pk=cluster.pk)
    assert (cluster.sync_id, cluster.sync_port, cluster.sync_ttl) == (7, 8849, 2)
    # The same text again changes nothing; other settings are a conflict unless asked to update.
    again = preview_import(acting_user=operator_user, cluster=cluster, text=CONF)
    assert again.ok and not again.changes
    changed = CONF.replace("virtual_router_id 60", "virtual_router_id 61")
    conflict = preview_import(acting_user=operator_user, cluster=cluster, text=changed)
    assert any("VIP group VI_MAIL is already in this cluster" in p.message for p in conflict.errors)
    assert preview_import(acting_user=operator_user, cluster=cluster, text=changed, update_existing=True).ok


def test_a_vrid_clash_is_an_error_on_the_instance_line(operator_user):
    lb = make_host()
    cluster, other = make_cluster(), make_cluster()
    make_cluster_host(cluster=cluster, host=lb)
    make_cluster_host(cluster=other, host=lb)
    make_vip_group(cluster=other, name="taken", vrid=60)
    result = preview_import(acting_user=operator_user, cluster=cluster, text=CONF)
    line = CONF.splitlines().index("vrrp_instance VI_MAIL {") + 1
    assert any(p.line == line and "VRID 60 is already used" in p.message for p in result.errors), result.errors


def test_export_writes_the_preferred_directors_vrrp_and_imports_back(operator_user):
    cluster = make_cluster(slug="shop")
    make_cluster_host(
        cluster=cluster, host=make_host(hostname="lb1", management_address="192.0.2.1"), vrrp_priority=150
    )
    make_cluster_host(cluster=cluster, host=make_host(hostname="lb2", management_address="192.0.2.2"), vrrp_priority=90)
    commit_import(acting_user=operator_user, cluster=cluster, text=CONF)
    cluster.refresh_from_db()
    text = export_text(cluster, "keepalived")
    assert (
        "# Director high availability as director lb1 runs it (VRRP priority 150). The others: lb2 priority 90." in text
    )
    assert "lvs_sync_daemon eth0 VI_MAIL id 7 port 8849 ttl 2" in text  # the first instance by name
    assert (
        "vrrp_instance VI_WEB {" in text and "    priority 150" in text and "unicast_peer {\n        192.0.2.2" in text
    )
    assert "198.51.100.11/32 dev eth0" in text
    # Back into a fresh cluster: the same groups and sync.
    fresh = make_cluster(slug="copy")
    commit_import(acting_user=operator_user, cluster=fresh, text=text)
    assert [(g.name, g.vrid, g.advert_int, g.auth_pass, g.unicast) for g in fresh.vip_groups.all()] == [
        (g.name, g.vrid, g.advert_int, g.auth_pass, g.unicast) for g in cluster.vip_groups.all()
    ]
    assert Cluster.objects.get(pk=fresh.pk).sync_id == 7


@pytest.mark.django_db
def test_a_vip_group_without_services_is_named_in_the_export_not_written_as_an_instance():
    # keepalived needs a VIP per vrrp_instance: a group nothing is in yet has none (the export used to fail on it)
    cluster = make_cluster(slug="quiet")
    make_cluster_host(cluster=cluster, host=make_host(hostname="director1"))
    make_vip_group(cluster=cluster, name="spare", vrid=61)
    text = export_text(cluster, "keepalived")
    assert "# VIP groups without an enabled service, not exported: spare." in text
    assert "vrrp_instance" not in text
