"""`lvsweb-agent` as an operator runs it (`ip netns exec HOST lvsweb-agent ...`): refusals and show."""

from collections.abc import Iterator

import labdocs
import pytest
from labnet import VIP, Lab, run

pytestmark = pytest.mark.lab


def _schema_error(d):
    d["director"]["services"][0]["port"] = "eighty"


def _unknown_scheduler(d):
    d["director"]["services"][0]["scheduler"] = "xx"


def _tun_port_mismatch(d):
    d["director"]["services"][0]["real_servers"][1]["port"] = 8080


def _gue_without_port(d):
    d["director"]["services"][0]["real_servers"][0]["tunnel"] = {"type": "gue", "port": None, "checksum": "none"}


@pytest.mark.parametrize(
    ("edit", "path", "words"),
    [
        (_schema_error, "$.director.services[0].port", "eighty"),
        (_unknown_scheduler, "$.director.services[0].scheduler", "xx"),
        (_tun_port_mismatch, "$.director.services[0].real_servers[1].port", "cannot map ports"),
        (_gue_without_port, "$.director.services[0].real_servers[0].tunnel.port", "gue needs a tunnel port"),
    ],
    ids=["schema", "unknown-scheduler", "tun-port-mismatch", "gue-without-port"],
)
def test_a_bad_document_is_refused_with_its_json_path_and_nothing_is_applied(
    network: Lab, agent_on, agent_cli, edit, path, words
):
    director = network["director"]
    agent_on("director").apply(labdocs.dr_director())  # something in the kernel to stay untouched
    table, addresses = director.ipvs_save(), director.addresses()
    bad = labdocs.changed(labdocs.tun_director(revision=2), edit)

    result = agent_cli("director", "apply", "DOCUMENT", document=bad)

    assert result.returncode == 2, result.output
    assert path in result.output and words in result.output, result.output
    assert director.ipvs_save() == table
    assert director.addresses() == addresses


@pytest.fixture
def bare() -> Iterator[str]:
    """A namespace with no address at all, hence no routing table: the kernel has no route to anything."""
    run("ip", "netns", "add", "bare")
    yield "bare"
    run("ip", "netns", "del", "bare")


def test_a_real_server_without_a_route_is_refused_in_operator_words(agent_cli, bare: str):
    # The kernel checks a new real server with inet_addr_type(): in a namespace that has any address,
    # an address without a route still counts as unicast and is accepted; with no routing table at all
    # it is refused with EINVAL, which ipvsadm prints as "Invalid argument" / "address not unicast".
    document = labdocs.changed(
        labdocs.director([labdocs.real_server("10.99.0.11")]), lambda d: d["director"].update(vips=[])
    )

    result = agent_cli(bare, "apply", "DOCUMENT", document=document)

    assert result.returncode == 1, result.output
    assert "10.99.0.11:80" in result.output and "no route" in result.output, result.output
    assert "10.99.0.11" not in run("ip", "netns", "exec", bare, "ipvsadm", "-Sn")


def test_show_ipvsadm_fed_to_ipvsadm_restore_recreates_the_same_table(network: Lab, agent_on, agent_cli):
    director = network["director"]
    document = labdocs.tun_director(scheduler="wrr")
    service = document["director"]["services"][0]
    service["real_servers"][0].update(weight=3, upper_threshold=100, lower_threshold=10)
    service["persistence"] = {"timeout": 120, "netmask": "255.255.255.0"}
    document["director"]["services"].append(
        {
            "fwmark": 7,
            "scheduler": "sh",
            "flags": ["sh-port"],
            "real_servers": [labdocs.real_server("10.20.0.12", port=0, forward="tun")],
        }
    )
    assert agent_on("director").apply(document).ok
    table = director.ipvs_save()

    shown = agent_cli.process("director", "show", "--ipvsadm")  # the console script, as an operator runs it

    assert shown.returncode == 0, shown.stderr
    run("ip", "netns", "add", "restored")
    try:
        # Without any address the kernel refuses every real server (see the test above): give it one.
        for command in (
            "link add dummy0 type dummy",
            "link set dummy0 up",
            "addr add 10.20.0.254/24 dev dummy0",
        ):
            run("ip", "-n", "restored", *command.split())
        run("ip", "netns", "exec", "restored", "ipvsadm-restore", input=shown.stdout)
        restored = run("ip", "netns", "exec", "restored", "ipvsadm", "-Sn")
    finally:
        run("ip", "netns", "del", "restored")
    assert restored == table
    assert f"{VIP}:80" in restored
