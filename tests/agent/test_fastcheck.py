"""The fast schema check may only say "valid" where jsonschema agrees; otherwise a bad document could be
applied without the exact message an operator needs."""

from __future__ import annotations

import copy

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st
from lvsweb_agent.document import schema
from lvsweb_agent.fastcheck import conforms

from .docs import example
from .test_properties import documents

VALIDATOR = jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 70000),
    st.sampled_from(["", "rr", "tun", "gue", "x" * 16, "10.0.0.256", "::1", "01.2.3.4", "eth0", "sh-port", 1.5]),
    st.just([]),
    st.just({}),
    st.just(["a", "a"]),
)


def paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from paths(value, (*prefix, index))


@st.composite
def mutated(draw):
    doc = copy.deepcopy(
        draw(st.one_of(documents(), st.sampled_from([example("tun-real-server"), example("nat-director")])))
    )
    candidates = [p for p in paths(doc) if p]
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(candidates))
        parent = doc
        try:
            for step in path[:-1]:
                parent = parent[step]
            if isinstance(parent, dict) and draw(st.booleans()):
                parent[draw(st.sampled_from(["port", "fwmark", "weight", "colour", "tunnel", "protocol"]))] = draw(
                    ODD_VALUES
                )
            elif isinstance(parent, dict) and draw(st.booleans()):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = draw(ODD_VALUES)
        except (KeyError, IndexError, TypeError):
            continue
    return doc


@settings(max_examples=300, deadline=None)
@given(doc=mutated())
def test_fast_check_never_accepts_what_the_schema_refuses(doc):
    if conforms(doc):
        assert not list(VALIDATOR.iter_errors(doc))


@settings(max_examples=50, deadline=None)
@given(doc=documents())
def test_fast_check_accepts_valid_documents(doc):
    assert conforms(doc)
