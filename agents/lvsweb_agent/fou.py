"""GUE listeners (`ip fou add port P gue`) through the kernel's generic netlink family "fou".

pyroute2 (0.9) has no fou support; the family is small: ADD and GET with a port (big-endian u16), an
address family (u8) and an encapsulation type (u8, 2 = GUE). The same bounds-checked decoding as IPVS's.
"""

from __future__ import annotations

import socket
import struct

from lvsweb_agent.netlink import GenericNetlink, NetlinkDecodeError, _attrs, _get, nla

FOU_CMD_ADD = 1
FOU_CMD_GET = 3
FOU_ATTR_PORT = 1
FOU_ATTR_AF = 2
FOU_ATTR_TYPE = 4
FOU_ENCAP_GUE = 2
_NAMES = {
    FOU_ATTR_PORT: ("FOU_ATTR_PORT", "a port"),
    FOU_ATTR_AF: ("FOU_ATTR_AF", "an address family"),
    FOU_ATTR_TYPE: ("FOU_ATTR_TYPE", "an encapsulation type"),
}
_BE16 = struct.Struct("!H")
_U8 = struct.Struct("=B")
_FAMILIES: dict[int, str] = {int(socket.AF_INET): "ipv4", int(socket.AF_INET6): "ipv6"}


def add_request(port: int, family: str) -> tuple[int, bytes]:
    """The FOU_CMD_ADD request for a GUE listener on UDP `port` over `family` ('ipv4' | 'ipv6')."""
    af = socket.AF_INET6 if family == "ipv6" else socket.AF_INET
    attrs = nla(FOU_ATTR_PORT, _BE16.pack(port)) + nla(FOU_ATTR_AF, _U8.pack(af))
    return FOU_CMD_ADD, attrs + nla(FOU_ATTR_TYPE, _U8.pack(FOU_ENCAP_GUE))


def decode_listener(data: bytes, start: int, end: int) -> tuple[int, str] | None:
    """(port, family) of a GUE listener in a FOU_CMD_GET answer; None for a direct (non-GUE) one."""
    what = "fou dump: listener message"
    found = _attrs(data, start, end, what, _NAMES)
    port = _get(data, found, FOU_ATTR_PORT, _BE16, what, _NAMES)
    af = _get(data, found, FOU_ATTR_AF, _U8, what, _NAMES, default=socket.AF_INET)
    kind = _get(data, found, FOU_ATTR_TYPE, _U8, what, _NAMES, default=0)
    if af not in _FAMILIES:
        raise NetlinkDecodeError(f"{what}: unknown address family {af}")
    return (port, _FAMILIES[af]) if kind == FOU_ENCAP_GUE else None


class Fou:
    """The fou family in the caller's namespace; `available` is False until the fou module is loaded."""

    def __init__(self) -> None:
        self.genl = GenericNetlink("fou")

    @property
    def available(self) -> bool:
        return self.genl.family_id is not None

    def close(self) -> None:
        self.genl.close()

    def listeners(self) -> set[tuple[int, str]]:
        """The GUE listeners: {(port, 'ipv4' | 'ipv6')}."""
        if not self.available:
            return set()
        found = set()
        for data, start, end in self.genl.dump(FOU_CMD_GET):
            listener = decode_listener(data, start, end)
            if listener is not None:
                found.add(listener)
        return found

    def add(self, port: int, family: str) -> tuple[int, str]:
        """Add a GUE listener: (errno, kernel message); errno 0 when done."""
        outcome = self.genl.execute([add_request(port, family)])[0]
        return outcome if outcome is not None else (0, "")
