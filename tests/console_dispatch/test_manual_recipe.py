"""The hand recipe for a host run without an agent: the same settings as the document the agent would get,
written as a script that can run any number of times (TUN: ipip, the VIPs on tunl0, rp_filter, MTU; DR;
director), the agent's own persisted files, and a systemd unit that runs the script at boot.

What it does to a kernel (twice, after a reboot, after a removal) is tested in the lab:
tests/lab/test_lab_hand_recipe.py."""

import re
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lvsweb_agent.document import parse_document
from lvsweb_agent.ipvsadm import render_save
from lvsweb_agent.persist import render_modules_conf, render_sysctl_conf

from clusters.choices import HostRole
from dispatch import actions
from dispatch.manual import manual_recipe
from dispatch.recipes import recipe_steps, render_script
from tests.factories import make_cluster_host, make_host, make_real_server, make_virtual_service

HEREDOC = re.compile(r"cat >/(?P<path>\S+) <<'LVSWEB_EOF'\n(?P<content>.*?)\nLVSWEB_EOF", re.S)
SCRIPT = "usr/local/sbin/lvsweb-recipe"
UNIT = "etc/systemd/system/lvsweb-recipe.service"


def files_of(script: str) -> dict[str, str]:
    """path -> content of every file the recipe writes."""
    return {m["path"]: m["content"] + "\n" for m in HEREDOC.finditer(script)}


def commands_of(script: str) -> list[str]:
    """The kernel commands of the installed script (what every run and every boot does), in order."""
    installed = files_of(script)[SCRIPT]
    body = installed.split('if [ "$mode" = apply ]; then\n', 1)[1].split("\nfi\n", 1)[0]
    lines = [line.strip() for line in body.splitlines()]
    return [line for line in lines if line not in ("", ":") and not line.startswith("#")]


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
        *[f"sysctl -q -w net.ipv4.conf.{name}.rp_filter=0" for name in ("all", "default", "lo", "tunl0", "eth0")],
        "address 10.10.0.100/32 tunl0",
        "only_on 10.10.0.100/32 tunl0",
        "address 10.10.0.101/32 tunl0",
        "only_on 10.10.0.101/32 tunl0",
    ]
    desired = parse_document(document)
    files = files_of(recipe.script)
    assert list(files) == ["etc/sysctl.d/90-lvsweb.conf", "etc/modules-load.d/lvsweb.conf", SCRIPT, UNIT]
    assert files["etc/sysctl.d/90-lvsweb.conf"] == render_sysctl_conf(desired)  # what the agent writes
    assert files["etc/modules-load.d/lvsweb.conf"] == render_modules_conf(desired)
    assert "# iptables -t mangle -A OUTPUT -s 10.10.0.101 -p tcp" in recipe.script  # offered, not run


@pytest.mark.django_db
def test_the_recipe_installs_a_unit_that_runs_its_script_at_boot_and_runs_it_now(lab):
    script = manual_recipe(lab.rs1).script
    unit = files_of(script)[UNIT]

    assert "ExecStart=/usr/local/sbin/lvsweb-recipe\n" in unit
    assert "Type=oneshot\n" in unit and "WantedBy=multi-user.target\n" in unit
    assert "systemctl enable lvsweb-recipe.service" in script
    lines = script.splitlines()
    # written, made executable, the unit written, then run: once the unit is there, a failed run is re-run at boot
    assert lines.index(f"chmod 755 /{SCRIPT}") < lines.index("LVSWEB_EOF", lines.index(f"cat >/{UNIT} <<'LVSWEB_EOF'"))
    assert lines.index(f"/{SCRIPT}") > lines.index(f"cat >/{UNIT} <<'LVSWEB_EOF'")


@pytest.mark.django_db
def test_the_recipe_and_its_installed_script_are_valid_sh(lab):
    for host in (lab.director, lab.rs1):
        script = manual_recipe(host).script
        for text in (script, files_of(script)[SCRIPT]):
            checked = subprocess.run(["sh", "-n"], input=text, capture_output=True, text=True)
            assert checked.returncode == 0, checked.stderr


@pytest.mark.django_db
def test_the_installed_script_adds_with_commands_that_succeed_when_done_already(lab):
    installed = files_of(manual_recipe(lab.rs1).script)[SCRIPT]

    assert "set -eu" in installed
    assert "ip addr replace" in installed and "ip addr add" not in installed
    # what an earlier run added and this one has not is removed; the lists say what it added
    assert 'grep -vxF -f "$state/$1.new" "$state/$1"' in installed
    assert "state=/var/lib/lvsweb-recipe" in installed


@pytest.mark.django_db
def test_a_dr_real_server_gets_the_vip_on_lo_and_the_arp_settings(lab):
    dr_host = make_host(hostname="dr1", uplinks="ens3")
    make_cluster_host(cluster=lab.cluster, host=dr_host, role=HostRole.REAL_SERVER)
    service = make_virtual_service(cluster=lab.cluster, address="10.10.0.102", port=80, forward_method="dr")
    make_real_server(virtual_service=service, address="10.20.0.21", host=dr_host, forward_method="dr")

    script = manual_recipe(dr_host).script

    assert commands_of(script) == [
        "sysctl -q -w net.ipv4.conf.all.arp_ignore=1",
        "sysctl -q -w net.ipv4.conf.all.arp_announce=2",
        "sysctl -q -w net.ipv4.conf.ens3.arp_ignore=1",
        "sysctl -q -w net.ipv4.conf.ens3.arp_announce=2",
        "address 10.10.0.102/32 lo",
        "only_on 10.10.0.102/32 lo",
    ]
    assert "rm -f /etc/modules-load.d/lvsweb.conf" in script  # nothing to load: the agent keeps no file either
    assert list(files_of(script)) == ["etc/sysctl.d/90-lvsweb.conf", SCRIPT, UNIT]
    assert "tunl0" not in script


@pytest.mark.django_db
def test_a_directors_commands_set_the_ipvs_table_of_its_document(lab):
    recipe = manual_recipe(lab.director)
    desired = parse_document(recipe.document)

    commands = commands_of(recipe.script)

    assert commands[:3] == ["modprobe ip_vs", "address 10.10.0.100/32 eth0", 'ipvsadm -Sn >"$state/kernel"']
    # service KEY OPTIONS and real_server KEY RIP OPTIONS: the -A and -a lines of ipvsadm-save, one by one
    table = ""
    for command in commands[3:]:
        verb, key, rest = re.fullmatch(r"(service|real_server) '([^']+)' (.*)", command).groups()
        table += f"-A {key} {rest}\n" if verb == "service" else f"-a {key} -r {rest}\n"
    assert table == render_save(desired.director.services, thresholds=True)
    assert "real_server '-t 10.10.0.100:80' 10.20.0.11:80 -i -w 1 --tun-type ipip" in commands


@pytest.mark.django_db
def test_the_enrollment_page_shows_how_to_run_what_it_keeps_and_how_to_undo(lab, operator):
    body = operator.get(f"/hosts/{lab.rs2.pk}/enroll/").content.decode()

    assert "(VIPs 10.10.0.100)" in body
    assert "address 10.10.0.100/32 tunl0" in body
    assert "<code>sh lvsweb-recipe.sh</code>" in body
    assert "cat &gt;/etc/sysctl.d/90-lvsweb.conf" in body
    for kept in (
        "/etc/sysctl.d/90-lvsweb.conf",
        "/etc/modules-load.d/lvsweb.conf",
        "/etc/systemd/system/lvsweb-recipe.service",
    ):
        assert f"<code>{kept}</code>" in body
    assert "<code>/usr/local/sbin/lvsweb-recipe remove</code>" in body


@pytest.mark.django_db
def test_a_host_with_nothing_to_serve_is_told_so_and_how_to_undo_an_earlier_recipe(lab, operator):
    idle = make_host(hostname="idle")
    body = operator.get(f"/hosts/{idle.pk}/enroll/").content.decode()
    assert "Nothing to configure yet" in body and "modprobe" not in body
    assert "<code>/usr/local/sbin/lvsweb-recipe remove</code>" in body


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
    script = render_script(recipe_steps(parse_document(document)))
    commands = commands_of(script)
    assert [c.split()[1] for c in commands if c.startswith("address ")] == [f"{vip}/32" for vip in vips]
    assert [c for c in commands if c.startswith("only_on ")] == [f"only_on {vip}/32 tunl0" for vip in vips]
    for interface in ("all", "default", "lo", "tunl0", *uplinks):
        name = f"net.ipv4.conf.{interface.replace('.', '/')}.rp_filter"
        assert f"sysctl -q -w {name}=0" in commands
        assert f"{name} = 0\n" in files_of(script)["etc/sysctl.d/90-lvsweb.conf"]
    assert files_of(script)["etc/modules-load.d/lvsweb.conf"].endswith("\nipip\n")
