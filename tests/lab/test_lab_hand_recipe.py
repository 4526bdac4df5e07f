"""The hand recipe on a real kernel: the commands the console shows for a real server run without an agent
make it serve the VIP, and leave nothing for the agent to change (its plan for the same document is empty)."""

import pytest
from labdocs import tun_director, tun_real_server
from labnet import Lab

pytestmark = pytest.mark.lab


def test_real_servers_configured_by_hand_serve_and_match_the_agents_document(network: Lab, agent_on, apply_all):
    from agents.host.document import parse_document
    from agents.recipes import recipe_steps, render_script

    apply_all({"director": tun_director()})
    for name in ("rs1", "rs2"):
        document = tun_real_server(name)
        root = agent_on(name).root  # the files go where the agent keeps them, not the read-only /etc
        script = render_script(recipe_steps(parse_document(document), root=str(root)))
        network[name].run("sh", "-s", input=script)
        plan = agent_on(name).plan(document)
        assert plan.empty, f"{name}: the agent would still change: {[str(op) for op in plan.operations]}"
        assert network[name].sysctl("net.ipv4.conf.tunl0.rp_filter") == "0"

    answers = network["client"].fetch(4)

    assert sorted(answers) == ["rs1", "rs1", "rs2", "rs2"]
