"""The Plan page's preview says what the agent will really do: for any document the host applied before and
any new one, the preview's operations are the operations the agent plans on a kernel that the old document
left behind (the simulated kernel of the agent's own property tests; the lab tests use the real one)."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lvsweb_agent.agent import Agent
from lvsweb_agent.document import parse_document
from lvsweb_agent.planner import plan

from dispatch.preview import CHANGE_OF_OPERATION, kernel_left_by
from tests.agent.simkernel import SimulatedKernel
from tests.agent.test_properties import documents

#: A VIP is either tun or dr on one host, and never the director's own.
VIPS = {"tun": ["10.10.1.1", "10.10.1.2", "192.0.2.80"], "dr": ["10.10.2.1", "10.10.2.2"]}


@st.composite
def host_documents(draw, drain_timeout: int) -> dict:
    """A director part (as the agent's property tests draw it) and, sometimes, TUN and DR recipes."""
    document = draw(documents(drain_timeout=drain_timeout))
    if draw(st.booleans()):
        document["director"] = None
    recipes = {}
    for method in ("tun", "dr"):
        if draw(st.booleans()):
            recipes[method] = {
                "vips": draw(st.lists(st.sampled_from(VIPS[method]), unique=True, min_size=1)),
                "uplinks": draw(st.sampled_from([["eth0"], ["eth0", "eth1"]])),
            }
    if recipes:
        document["real_server"] = {"tun": recipes.get("tun"), "dr": recipes.get("dr")}
    return document


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(before=host_documents(drain_timeout=300), after=host_documents(drain_timeout=300))
def test_the_preview_is_the_agents_own_plan(tmp_path_factory, before, after):
    agent = Agent(root=tmp_path_factory.mktemp("root"), kernel=SimulatedKernel())
    assert agent.apply(before, now=0).ok
    expected = [str(op) for op in agent.plan(after, now=1).operations]
    actual, ledger = kernel_left_by(parse_document(before))
    preview = [str(op) for op in plan(parse_document(after), actual, ledger, now=1).operations]
    assert preview == expected


@SETTINGS
@given(document=host_documents(drain_timeout=0))
def test_nothing_changed_previews_no_operation(document):
    desired = parse_document(document)
    assert plan(desired, *kernel_left_by(desired), now=1).empty


def test_every_operation_kind_reads_as_added_changed_or_removed():
    from lvsweb_agent.planner import PHASES

    assert set(CHANGE_OF_OPERATION) == set(PHASES)
    assert set(CHANGE_OF_OPERATION.values()) == {"added", "changed", "removed"}
