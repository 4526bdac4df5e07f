"""The tunnel matrix on a real kernel (docs/agent-spec.md, "Tunnels"): IPIP, GUE and GRE, IPv4 and IPv6 and
across families, TCP and UDP, with checksums, plus SCTP and a firewall mark — each configured only by the agents
from their documents (labtunnels.py builds them as the console's compiler does), each carrying real packets
through its VIP with the director's OutPkts 0 (the replies go straight from the real server to the client);
and the hand recipe of every host leaves the agent nothing to do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from labnet import inside, parse_ipvsadm_stats, run
from labtunnels import DIRECTOR, HOSTS, REAL_SERVERS, ROWS, Row, TunnelLab, director_document, real_server_document

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def tunnels(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TunnelLab]:
    """The topology with every host configured by its agent from its document; `lab.problems` says, per host,
    what went wrong (the apply's error, or what a second plan would still change)."""
    from lvsweb_agent.agent import Agent

    workdir = tmp_path_factory.mktemp("tunnels")
    lab = TunnelLab(workdir)
    lab.build()
    try:
        documents = {DIRECTOR: director_document()} | {host: real_server_document(host) for host in REAL_SERVERS}
        for host, document in documents.items():
            with Agent(root=str(workdir / host), netns=host) as agent:
                result = agent.apply(document)
                if not result.ok:
                    lab.problems[host] = f"apply failed: {result.error}"
                elif not (second := agent.plan(document)).empty:
                    lab.problems[host] = f"a second plan is not empty:\n{second}"
        lab.start_sctp()
        yield lab
    finally:
        lab.destroy()


@pytest.mark.parametrize("host", [DIRECTOR, *REAL_SERVERS])
def test_each_agent_applies_its_document_and_then_has_nothing_to_do(host: str, tunnels: TunnelLab):
    assert host not in tunnels.problems, tunnels.problems[host]


@pytest.fixture(scope="module")
def answers(tunnels: TunnelLab) -> dict[str, str]:
    """Each row's answer to one request through its VIP (the first ones retried: the director's IPv6 VIPs
    pass duplicate address detection, about a second)."""
    found = {}
    for row in ROWS:
        answer = ""
        for _ in range(6):
            answer = tunnels.request(row)
            if answer:
                break
        found[row.name] = answer
    return found


@pytest.fixture(scope="module")
def stats(answers: dict[str, str]) -> dict[str, dict[str, int]]:
    """The director's counters once the requests have reached them (the kernel adds them up every 2 s)."""
    import time

    def read() -> dict[str, dict[str, int]]:
        with inside(DIRECTOR):
            return parse_ipvsadm_stats(run("ipvsadm", "-Ln", "--stats", "--exact"))

    last = read()
    for _ in range(4):
        time.sleep(2.5)
        now = read()
        if now == last:
            break
        last = now
    return last


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_row_carries_packets_through_the_vip_and_replies_bypass_the_director(
    row: Row, tunnels: TunnelLab, answers: dict[str, str], stats: dict[str, dict[str, int]]
):
    problems = "; ".join(f"{host}: {text}" for host, text in tunnels.problems.items() if host in (row.host, DIRECTOR))
    assert answers[row.name] == row.host, f"{row.protocol} to {row.vip} got {answers[row.name]!r} {problems}"
    counters = stats[row.stats_key]
    assert counters["inpkts"] > 0, f"{row.stats_key}: no packet went through the director"
    assert counters["outpkts"] == 0, f"{row.stats_key}: replies went back through the director (TUN must not)"


def test_without_the_real_servers_recipe_nothing_answers(tunnels: TunnelLab):
    """The rows fail without the agent's work: a VIP of the plain IPv4 row, taken off tunl0, gets no answer."""
    row = next(row for row in ROWS if row.name == "ipip-ipv4-in-ipv4-tcp")
    with inside(row.host):
        run("ip", "addr", "del", f"{row.vip}/32", "dev", "tunl0")
    try:
        assert tunnels.request(row, timeout=1) == ""
    finally:
        with inside(row.host):
            run("ip", "addr", "add", f"{row.vip}/32", "dev", "tunl0")


@pytest.mark.parametrize("host", [DIRECTOR, *REAL_SERVERS])
def test_hand_recipe_leaves_the_agent_nothing_to_do(host: str, tunnels: TunnelLab, tmp_path: Path):
    """The recipe the console shows for HOST, run in a fresh namespace (as at boot): the agent's plan is empty."""
    from lvsweb_agent.agent import Agent
    from lvsweb_agent.document import parse_document

    from dispatch.recipes import recipe_steps, render_script

    document = director_document() if host == DIRECTOR else real_server_document(host)
    namespace = f"{host}-hand"
    root = tmp_path / "root"
    root.mkdir()
    script = tmp_path / "recipe.sh"
    script.write_text(render_script(recipe_steps(parse_document(document), root=str(root))))
    run("ip", "netns", "add", namespace)
    try:
        run("ip", "link", "add", f"{host}-h", "type", "veth", "peer", "name", "eth0", "netns", namespace)
        last = HOSTS[host]
        batch = f"link set lo up\nlink set eth0 up\naddr add 10.40.0.{last}/24 dev eth0\n"
        run("ip", "-n", namespace, "-batch", "-", input=batch)
        with inside(namespace):
            run("sh", str(script), timeout=120)
        with Agent(root=str(root), netns=namespace) as agent:
            plan = agent.plan(document)
        assert plan.empty, f"{host}: the agent would still change:\n{plan}"
    finally:
        run("ip", "netns", "del", namespace, check=False)
