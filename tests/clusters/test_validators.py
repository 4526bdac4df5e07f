"""Properties of the pure LVS checks in clusters/validators.py."""

import ipaddress

import pytest
from django.core.exceptions import ValidationError
from hypothesis import assume, example, given
from hypothesis import strategies as st

from clusters.choices import AddressFamily
from clusters.validators import family_of, validate_persistence_netmask


def dotted(mask: int) -> str:
    return str(ipaddress.IPv4Address(mask))


def is_contiguous(mask: int) -> bool:
    return bin(mask)[2:].zfill(32).find("01") == -1


@given(st.integers(min_value=0, max_value=32))
def test_every_contiguous_ipv4_netmask_is_accepted(prefix):
    validate_persistence_netmask(dotted((0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF), AddressFamily.IPV4)


@given(st.integers(min_value=0, max_value=0xFFFFFFFF))
@example(0x000000FF)  # 0.0.0.255, which ipaddress.IPv4Network would read as a hostmask
def test_every_non_contiguous_ipv4_netmask_is_refused(mask):
    assume(not is_contiguous(mask))
    with pytest.raises(ValidationError, match="not a valid IPv4 persistence netmask"):
        validate_persistence_netmask(dotted(mask), AddressFamily.IPV4)


@pytest.mark.parametrize("hostmask", ["0.0.0.255", "0.0.255.255", "0.255.255.255"])
def test_ipv4_hostmask_is_refused_not_read_as_a_netmask(hostmask):
    with pytest.raises(ValidationError, match="contiguous dotted netmask"):
        validate_persistence_netmask(hostmask, AddressFamily.IPV4)


@pytest.mark.parametrize("value", ["24", "32"])
def test_ipv4_prefix_length_is_refused_with_the_dotted_form_named(value):
    with pytest.raises(ValidationError, match=r"is a prefix length.*dotted netmask"):
        validate_persistence_netmask(value, AddressFamily.IPV4)


@given(st.text(max_size=20))
def test_any_text_is_accepted_or_refused_as_ipv4_netmask_without_crashing(value):
    try:
        validate_persistence_netmask(value, AddressFamily.IPV4)
    except ValidationError:
        return
    assert is_contiguous(int(ipaddress.IPv4Address(value)))


@given(st.integers(min_value=1, max_value=128))
def test_ipv6_prefixes_1_to_128_are_accepted(prefix):
    validate_persistence_netmask(str(prefix), AddressFamily.IPV6)


@given(st.integers().filter(lambda n: not 1 <= n <= 128))
def test_ipv6_prefixes_outside_1_to_128_are_refused(prefix):
    with pytest.raises(ValidationError, match="prefix length from 1 to 128"):
        validate_persistence_netmask(str(prefix), AddressFamily.IPV6)


@given(st.text(max_size=10))
def test_any_text_is_accepted_or_refused_as_ipv6_prefix_without_crashing(value):
    try:
        validate_persistence_netmask(value, AddressFamily.IPV6)
    except ValidationError:
        return
    assert 1 <= int(value) <= 128


@pytest.mark.parametrize("value", ["²", "１２", "255.255.255.0"])
def test_ipv6_prefix_refuses_non_ascii_digits_and_dotted_masks(value):
    with pytest.raises(ValidationError, match="not a valid IPv6 persistence prefix"):
        validate_persistence_netmask(value, AddressFamily.IPV6)


@given(st.ip_addresses())
def test_family_of_matches_the_ip_version(address):
    expected = AddressFamily.IPV6 if address.version == 6 else AddressFamily.IPV4
    assert family_of(str(address)) == expected
