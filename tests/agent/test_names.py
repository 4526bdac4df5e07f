"""The hostname rule the agent and the console share (RFC 1123 labels), on its own."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lvsweb_agent.names import MAX_LENGTH, hostname_problem

VALID = ["lb1", "rs-7.fra.example.net", "director", "1host", "a" * 63 + ".example", "10.0.0.1", "X-Y"]
INVALID = [
    ("", "cannot be empty"),
    ("slash/host", "“slash/host” is not a valid part"),
    ("two words", "“two words” is not a valid part"),
    ("<b>lb</b>", "is not a valid part"),
    ("lb1\nEvil: header", "is not a valid part"),
    ("lb1\n", "is not a valid part"),
    ("-lb1", "is not a valid part"),
    ("lb1-", "is not a valid part"),
    ("under_score", "is not a valid part"),
    ("lb1.", "cannot have an empty part"),
    (".lb1", "cannot have an empty part"),
    ("a" * 64, "is not a valid part"),
    ("ü.example", "is not a valid part"),
    ("a." * 127 + "ab", f"at most {MAX_LENGTH} characters"),
]


@pytest.mark.parametrize("name", VALID)
def test_rfc_1123_names_pass(name):
    assert hostname_problem(name) is None


@pytest.mark.parametrize(("name", "expected"), INVALID)
def test_other_names_are_refused_with_the_reason(name, expected):
    problem = hostname_problem(name)
    assert problem is not None and expected in problem


@given(st.text(max_size=300))
def test_a_valid_name_holds_only_letters_digits_hyphens_and_dots(text):
    if hostname_problem(text) is None:
        assert text and len(text) <= MAX_LENGTH
        assert set(text) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.")
