"""The hand recipe for a host run without an agent: the same settings as the document the agent would get,
written as the commands that make them (TUN: ipip, the VIPs on tunl0, rp_filter, MTU, persisted; DR; director)."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents import actions
from agents.host.document import parse_document
from agents.host.ipvsadm import render_save
from agents.host.persist import render_modules_conf, render_sysctl_conf
from agents.manual import manual_recipe
from agents.recipes import recipe_steps
from clusters.choices import HostRole
from tests.factories import make_cluster_host, make_host, make_real_server, make_virtual_service

HEREDOC = re.compile(r"cat > /(?P<path>\S+) <<'EOF'\n(?P<content>.*?)\nEOF", re.S)


def files_of(script: str) -> dict[str, str]:
    return {m["path"]: m["content"] + "\n" for m in HEREDOC.finditer(script)}


def commands_of(script: str) -> list[str]:
    return [line for line in script.splitlines() if line.startswith(("modprobe", "ip ", "sysctl"))]


@pytest.mark.django_db
def test_a_tun_real_servers_commands_match_the_document_the_agent_would_get(lab):
    second = make_virtual_service(cluster=lab.cluster, address="10.10.0.101", port=443)
    make_real_server(virtual_service=second, address="10.20.0.11", port=443, host=lab.rs1)
    document = actions.apply_cluster(acting_user=None, cluster=lab.cluster).deployments.get(host=lab.rs1).document

    recipe = manual_recipe(lab.rs1)

    tun = document["real_server"]["tun"]
    assert tun == {"vips": ["10.10.0.100", "10.10.0.101"], "uplinks": ["eth0"]}
    assert recipe.document["real_server"] == document["real_server"]
    assert commands_of(recipe.script) == [
        "modprobe ipip",
        "ip link set tunl0 up",
        "ip link set tunl0 mtu 1480",
        *[f"sysctl -w net.ipv4.conf.{name}.rp_filter=0" for name in ("all", "default", "lo", "tunl0", *tun["uplinks"])],
        *[f"ip addr add {vip}/32 dev tunl0" for vip in tun["vips"]],
    ]
    desired = parse_document(document)
    assert files_of(recipe.script) == {
        "etc/sysctl.d/90-lvsweb.conf": render_sysctl_conf(desired),
        "etc/modules-load.d/lvsweb.conf": render_modules_conf(desired),
    }
    assert "# iptables -t mangle -A OUTPUT -s 10.10.0.101 -p tcp" in recipe.script  # offered, not run


@pytest.mark.django_db
def test_a_dr_real_server_gets_the_vip_on_lo_and_the_arp_settings(lab):
    dr_host = make_host(hostname="dr1", uplinks="ens3")
    make_cluster_host(cluster=lab.cluster, host=dr_host, role=HostRole.REAL_SERVER)
    service = make_virtual_service(cluster=lab.cluster, address="10.10.0.102", port=80, forward_method="dr")
    make_real_server(virtual_service=service, address="10.20.0.21", host=dr_host, forward_method="dr")

    script = manual_recipe(dr_host).script

    assert commands_of(script) == [
        "sysctl -w net.ipv4.conf.all.arp_ignore=1",
        "sysctl -w net.ipv4.conf.all.arp_announce=2",
        "sysctl -w net.ipv4.conf.ens3.arp_ignore=1",
        "sysctl -w net.ipv4.conf.ens3.arp_announce=2",
        "ip addr add 10.10.0.102/32 dev lo",
    ]
    assert list(files_of(script)) == ["etc/sysctl.d/90-lvsweb.conf"]
    assert "tunl0" not in script


@pytest.mark.django_db
def test_a_directors_commands_restore_the_ipvs_table_of_its_document(lab):
    recipe = manual_recipe(lab.director)
    desired = parse_document(recipe.document)
    assert "modprobe ip_vs" in recipe.script
    assert "ip addr add 10.10.0.100/32 dev eth0" in recipe.script
    table = recipe.script.split("ipvsadm-restore <<'EOF'\n", 1)[1].split("\nEOF", 1)[0] + "\n"
    assert table == render_save(desired.director.services)
    assert "-a -t 10.10.0.100:80 -r 10.20.0.11:80 -i -w 1 --tun-type ipip" in table


@pytest.mark.django_db
def test_the_enrollment_page_shows_the_recipe_for_that_hosts_vips(lab, operator):
    body = operator.get(f"/hosts/{lab.rs2.pk}/enroll/").content.decode()
    assert "(VIPs 10.10.0.100)" in body
    assert "ip addr add 10.10.0.100/32 dev tunl0" in body
    assert "cat &gt; /etc/sysctl.d/90-lvsweb.conf" in body


@pytest.mark.django_db
def test_a_host_with_nothing_to_serve_is_told_so(lab, operator):
    idle = make_host(hostname="idle")
    body = operator.get(f"/hosts/{idle.pk}/enroll/").content.decode()
    assert "Nothing to configure yet" in body and "modprobe" not in body


VIPS = ["10.10.0.100", "10.10.0.101", "198.51.100.7"]
UPLINKS = ["eth0", "eth1", "ens3", "bond0.20"]


@settings(max_examples=80, deadline=None)
@given(
    vips=st.lists(st.sampled_from(VIPS), unique=True, min_size=1),
    uplinks=st.lists(st.sampled_from(UPLINKS), unique=True),
)
def test_every_vip_and_uplink_of_a_tun_recipe_has_its_command_and_its_persisted_line(vips, uplinks):
    document = {
        "version": 1,
        "host": "rs",
        "revision": 1,
        "director": None,
        "real_server": {"tun": {"vips": vips, "uplinks": uplinks}, "dr": None},
    }
    desired = parse_document(document)
    script = "\n".join(command for step in recipe_steps(desired) for command in step.commands) + "\n"
    added = re.findall(r"^ip addr add (\S+)/32 dev tunl0$", script, re.M)
    assert added == vips
    for interface in ("all", "default", "lo", "tunl0", *uplinks):
        name = f"net.ipv4.conf.{interface.replace('.', '/')}.rp_filter"
        assert f"sysctl -w {name}=0\n" in script
        assert f"{name} = 0\n" in files_of(script)["etc/sysctl.d/90-lvsweb.conf"]
    assert files_of(script)["etc/modules-load.d/lvsweb.conf"].endswith("\nipip\n")
