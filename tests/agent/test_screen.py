"""The broker screen alone (agents/lvsweb_agent/screen.py): whatever is popped, it is either a message kombu and Celery
can take or a Dropped with a reason — never another exception (which would stop the worker)."""

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lvsweb_agent.screen import REASONS, DropFile, Dropped, screen_raw, transport_for

MAX = 4096


def message(task_body=b"[[], {}, {}]", **changes):
    """A Celery task message as kombu's Redis transport stores it, with `changes` to its top-level fields."""
    raw = {
        "body": base64.b64encode(task_body).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {"task": "lvsweb.control.report", "id": "1"},
        "properties": {"body_encoding": "base64", "delivery_info": {"routing_key": "control"}, "delivery_tag": "t"},
    }
    raw.update(changes)
    return json.dumps(raw)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)


def screened(raw):
    try:
        return screen_raw(raw, MAX)
    except Dropped as dropped:
        assert dropped.reason in REASONS and str(dropped)
        return None


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_any_bytes_are_taken_or_dropped(raw):
    screened(raw)


@settings(max_examples=300)
@given(json_values)
def test_any_json_is_taken_or_dropped(value):
    screened(json.dumps(value))


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from(["body", "content-type", "headers", "properties"]), json_values))
def test_any_envelope_is_taken_or_dropped(changes):
    screened(message(**changes))


@given(json_values)
def test_a_task_body_must_be_args_kwargs_embed(body):
    taken = screened(message(json.dumps(body).encode()))
    is_task_body = (
        isinstance(body, list)
        and len(body) == 3
        and isinstance(body[0], list)
        and isinstance(body[1], dict)
        and isinstance(body[2], dict)
    )
    assert (taken is not None) == is_task_body


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("not json at all", "not_json"),
        (b"\xff\xfe", "not_json"),
        ("[1]", "malformed"),
        (message(properties={"delivery_tag": "t"}), "malformed"),
        (message(headers="x"), "malformed"),
        (message(**{"content-type": "application/x-python-serialize"}), "content_type"),
        (message(headers={"task": "t", "id": "1", "compression": "application/x-gzip"}), "content_type"),
        (message(body="!!not base64"), "bad_body"),
        (message(b"[[], {}, {"), "bad_body"),
        (message(b'"a string"'), "malformed"),
        ("x" * (MAX + 1), "too_large"),
    ],
)
def test_each_reason(raw, reason):
    with pytest.raises(Dropped) as dropped:
        screen_raw(raw, MAX)
    assert dropped.value.reason == reason


def test_a_good_message_is_returned_as_kombu_reads_it():
    assert screen_raw(message(), MAX)["headers"]["task"] == "lvsweb.control.report"


def test_the_transport_is_chosen_by_the_broker_url():
    assert transport_for("redis://127.0.0.1:6379/0") == "lvsweb_agent.broker_transport:Transport"
    assert transport_for("rediss://user:pw@broker:6380/1") == "lvsweb_agent.broker_transport:Transport"
    assert transport_for("sentinel://s1:26379;sentinel://s2:26379") == "lvsweb_agent.broker_transport:SentinelTransport"
    assert transport_for("amqp://guest@localhost//") is None


def test_the_drop_file_counts_by_reason(tmp_path):
    drops = DropFile(tmp_path / "var" / "drops.json")
    assert drops.read() == {}
    drops("not_json", "x")
    drops("not_json", "y")
    drops("too_large", "z")
    assert drops.read() == {"not_json": 2, "too_large": 1}
