"""The hand recipe on a real kernel: the script the console shows for a host run without an agent makes it
serve the VIP and leaves nothing for the agent to change (its plan for the same document is empty); it can
be run any number of times; a reboot (a fresh namespace where only what the recipe persisted is replayed)
brings the same state back; a run after the inventory lost something removes it from the kernel, and only
what the recipe itself added."""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from labdocs import changed, director, dr_real_server, real_server, tun_director, tun_real_server
from labnet import VIP, Host, Lab, inside, run

pytestmark = pytest.mark.lab

SECOND_VIP = "10.10.0.101"


def run_recipe(host: Host, document: dict, root: Path) -> str:
    """The recipe of DOCUMENT as the enrollment page shows it, files under ROOT, run in HOST as the page
    says (`sh lvsweb-recipe.sh`): what it printed."""
    from lvsweb_agent.document import parse_document

    from dispatch.recipes import recipe_steps, render_script

    root.mkdir(parents=True, exist_ok=True)
    script = root.parent / f"{host.name}-recipe.sh"
    script.write_text(render_script(recipe_steps(parse_document(document), root=str(root))))
    return host.run("sh", str(script))


def kernel_state(host: Host) -> tuple:
    """What the recipe changes, read back from the kernel."""
    rp_filter = {scope: host.sysctl(f"net.ipv4.conf.{scope}.rp_filter") for scope in ("all", "eth0", "tunl0")}
    ipvs = host.ipvs_save() if host.name == "director" else ""
    return host.addresses(), host.links_up(), rp_filter, ipvs


def plan_of(namespace: str, root: Path, document: dict) -> list[str]:
    """The operations the real agent would run on NAMESPACE's kernel, its files under ROOT."""
    from lvsweb_agent.agent import Agent

    with Agent(root=str(root), netns=namespace) as agent:
        return [str(operation) for operation in agent.plan(document).operations]


@contextlib.contextmanager
def rebooted(name: str, root: Path) -> Iterator[str]:
    """A fresh network namespace, as the host is at boot before lvsweb's part (an eth0, lo up), where only
    what the recipe persisted under ROOT has run, as a boot runs it: modules-load.d, sysctl.d, then the
    ExecStart of the systemd units. Yields its name."""
    namespace = f"{name}-boot"
    run("ip", "netns", "add", namespace)
    try:
        run("ip", "link", "add", namespace, "type", "veth", "peer", "name", "eth0", "netns", namespace)
        for link in ("lo", "eth0"):
            run("ip", "-n", namespace, "link", "set", link, "up")
        with inside(namespace):
            for conf in sorted(root.glob("etc/modules-load.d/*.conf")):
                for line in conf.read_text().splitlines():
                    if line.strip() and not line.startswith(("#", ";")):
                        run("modprobe", line.strip())
            for conf in sorted(root.glob("etc/sysctl.d/*.conf")):
                run("sysctl", "-q", "-p", str(conf))
            units = sorted(root.glob("etc/systemd/system/*.service"))
            assert units, "nothing runs at boot: the recipe wrote no systemd unit"
            for unit in units:
                for line in unit.read_text().splitlines():
                    if line.startswith("ExecStart="):
                        run(*shlex.split(line.removeprefix("ExecStart=")))
        yield namespace
    finally:
        run("ip", "netns", "del", namespace, check=False)


@pytest.mark.parametrize(
    ("name", "document"),
    [("rs1", tun_real_server("rs1")), ("dr1", dr_real_server("dr1")), ("director", tun_director())],
    ids=["tun", "dr", "director"],
)
def test_run_twice_then_rebooted_the_agent_plans_nothing(network: Lab, tmp_path: Path, name: str, document: dict):
    host, root = network[name], tmp_path / name

    run_recipe(host, document, root)
    first = kernel_state(host)
    run_recipe(host, document, root)  # the old recipe stopped here: "RTNETLINK answers: File exists"

    assert kernel_state(host) == first
    assert plan_of(name, root, document) == []
    with rebooted(name, root) as namespace:
        assert plan_of(namespace, root, document) == []
        if name == "director":
            assert run("ip", "netns", "exec", namespace, "ipvsadm", "-Sn") == host.ipvs_save()


def test_real_servers_configured_by_hand_serve_and_match_the_agents_document(network: Lab, agent_on, apply_all):
    apply_all({"director": tun_director()})
    for name in ("rs1", "rs2"):
        document = tun_real_server(name)
        root = agent_on(name).root  # the files go where the agent keeps them, not the read-only /etc
        run_recipe(network[name], document, root)
        plan = agent_on(name).plan(document)
        assert plan.empty, f"{name}: the agent would still change: {[str(op) for op in plan.operations]}"
        assert network[name].sysctl("net.ipv4.conf.tunl0.rp_filter") == "0"

    answers = network["client"].fetch(4)

    assert sorted(answers) == ["rs1", "rs1", "rs2", "rs2"]


def test_a_director_configured_by_hand_serves(network: Lab, tmp_path: Path, apply_all):
    apply_all({"rs1": tun_real_server("rs1"), "rs2": tun_real_server("rs2")})
    run_recipe(network["director"], tun_director(), tmp_path / "director")
    run_recipe(network["director"], tun_director(), tmp_path / "director")

    answers = network["client"].fetch(4)

    assert sorted(answers) == ["rs1", "rs1", "rs2", "rs2"]
    assert network["director"].ipvs_stats()["TCP 10.10.0.100:80"]["outpkts"] == 0  # replies bypass it


def test_a_vip_the_inventory_no_longer_has_leaves_the_kernel_and_only_it(network: Lab, tmp_path: Path):
    rs1, root = network["rs1"], tmp_path / "rs1"
    rs1.run("modprobe", "ipip")
    rs1.ip("addr", "add", "10.99.0.1/32", "dev", "tunl0")  # the operator's own, before any recipe
    two_vips = changed(tun_real_server("rs1"), lambda d: d["real_server"]["tun"]["vips"].append(SECOND_VIP))
    run_recipe(rs1, two_vips, root)
    assert sorted(rs1.addresses("tunl0")["tunl0"]) == ["10.10.0.100/32", "10.10.0.101/32", "10.99.0.1/32"]

    printed = run_recipe(rs1, tun_real_server("rs1"), root)

    assert sorted(rs1.addresses("tunl0")["tunl0"]) == ["10.10.0.100/32", "10.99.0.1/32"]
    assert "removing 10.10.0.101/32 from tunl0" in printed
    assert plan_of("rs1", root, tun_real_server("rs1")) == []
    with rebooted("rs1", root) as namespace:  # the boot replays the new inventory, not the old one
        assert run("ip", "-n", namespace, "-o", "addr", "show", "dev", "tunl0").count(" inet ") == 1


def test_services_and_real_servers_the_inventory_no_longer_has_leave_the_directors_table(network: Lab, tmp_path: Path):
    host, root = network["director"], tmp_path / "director"
    host.run("ipvsadm", "-A", "-t", "10.10.0.200:80", "-s", "wlc")  # the operator's own, before any recipe
    two_services = tun_director()
    two_services["director"]["services"].append(
        {
            **two_services["director"]["services"][0],
            "port": 8080,
            "real_servers": [real_server("10.20.0.11", port=8080)],
        }
    )
    run_recipe(host, two_services, root)
    assert set(host.ipvs_table()) == {"TCP 10.10.0.100:80", "TCP 10.10.0.100:8080", "TCP 10.10.0.200:80"}

    printed = run_recipe(host, director([real_server("10.20.0.11")], scheduler="wrr"), root)

    table = host.ipvs_table()
    assert set(table) == {"TCP 10.10.0.100:80", "TCP 10.10.0.200:80"}
    assert list(table["TCP 10.10.0.100:80"]) == ["10.20.0.11:80"]
    assert "-A -t 10.10.0.100:80 -s wrr" in host.ipvs_save()
    assert "removing service -t 10.10.0.100:8080" in printed

    host.run(str(root / "usr/local/sbin/lvsweb-recipe"), "remove")  # the undo the page offers

    assert set(host.ipvs_table()) == {"TCP 10.10.0.200:80"}
    assert VIP + "/32" not in host.addresses("eth0")["eth0"]
    assert not list(root.glob("etc/**/*lvsweb*")) and not (root / "usr/local/sbin/lvsweb-recipe").exists()


def test_a_director_that_owns_the_ipvs_table_keeps_only_the_documents_services(network: Lab, tmp_path: Path):
    host = network["director"]
    host.run("ipvsadm", "-A", "-t", "10.10.0.200:80", "-s", "wlc")
    owner = changed(tun_director(), lambda d: d["director"].update(owns_ipvs_table=True))

    run_recipe(host, owner, tmp_path / "director")
    host.run("ipvsadm", "-A", "-t", "10.10.0.201:80", "-s", "wlc")  # added by hand between two runs
    run_recipe(host, owner, tmp_path / "director")

    assert set(host.ipvs_table()) == {"TCP 10.10.0.100:80"}
    assert plan_of("director", tmp_path / "director", owner) == []
