"""Pure checks on LVS values, shared by the models, the API and the importers."""

import ipaddress

from django.core.exceptions import ValidationError
from lvsweb_agent.names import hostname_problem

from clusters.choices import AddressFamily

MAX_FWMARK = 2**32 - 1
MAX_WEIGHT = 65535


def validate_hostname(value: str) -> None:
    """A host's name by the agent's own rule (RFC 1123 labels; agents/lvsweb_agent/names.py)."""
    problem = hostname_problem(value)
    if problem:
        raise ValidationError(problem[0].upper() + problem[1:] + ".", code="invalid")


def family_of(address: str) -> AddressFamily:
    """Return the family of an IP address (the address must already be valid)."""
    return AddressFamily.IPV6 if ipaddress.ip_address(address).version == 6 else AddressFamily.IPV4


def validate_persistence_netmask(value: str, family: str) -> None:
    """Check a persistence netmask: a contiguous dotted netmask for IPv4, a prefix length 1-128 for IPv6."""
    if family == AddressFamily.IPV6:
        # isascii(): str.isdigit() also accepts "²" and other digits that int() refuses or the kernel won't read.
        if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 128:
            raise ValidationError(
                f"“{value}” is not a valid IPv6 persistence prefix: give a prefix length from 1 to 128 "
                "(128 means one client address)."
            )
        return
    if value.isascii() and value.isdigit():
        raise ValidationError(
            f"“{value}” is a prefix length; for IPv4 the kernel takes a dotted netmask such as 255.255.255.0."
        )
    # Parse the mask as an address: ipaddress.IPv4Network would also take a hostmask such as 0.0.0.255,
    # which the kernel reads as the non-contiguous netmask it literally is.
    try:
        host_bits = ~int(ipaddress.IPv4Address(value)) & 0xFFFFFFFF
        contiguous = host_bits & (host_bits + 1) == 0  # the zero bits, if any, all come last
    except ValueError:
        contiguous = False
    if not contiguous:
        raise ValidationError(
            f"“{value}” is not a valid IPv4 persistence netmask: give a contiguous dotted netmask such as "
            "255.255.255.255 (one client address) or 255.255.255.0 (a /24)."
        )


def validate_interface_name(value: str) -> None:
    """A Linux network interface name: 1–15 characters, no slash, colon or white space."""
    if (
        not value
        or len(value) > 15
        or value in (".", "..")
        or any(ch in value for ch in "/: \t\n")
        or not value.isascii()
    ):
        raise ValidationError(
            f"“{value}” is not a Linux interface name (1–15 characters without “/”, “:” or spaces, e.g. eth0)."
        )


def validate_interface_list(value: str) -> None:
    """A comma-separated list of interface names (may be empty)."""
    for name in value.split(","):
        if name.strip():
            validate_interface_name(name.strip())


def address_list(value: str) -> list[str]:
    """The addresses of a comma-separated list, each in its normal form (the list must already be valid)."""
    return [str(ipaddress.ip_address(part.strip())) for part in value.split(",") if part.strip()]


def validate_address_list(value: str) -> None:
    """A comma-separated list of IPv4 or IPv6 addresses (may be empty)."""
    for part in value.split(","):
        if not part.strip():
            continue
        try:
            ipaddress.ip_address(part.strip())
        except ValueError:
            raise ValidationError(
                f"“{part.strip()}” is not an IP address: give the host's other addresses separated by commas, "
                "e.g. 203.0.113.11, 2001:db8::11."
            ) from None
