"""virtual_server_group: the addresses, address ranges and firewall marks that share one set of real servers.

An import expands a group into one service per address (and per mark); each remembers the group's name
(`ParsedRules.groups`), which the export uses to write the group back.

    virtual_server_group web {
        192.0.2.10-12 80        # 192.0.2.10, .11 and .12, port 80 (the range runs over the last number)
        2001:db8::a-c 443       # IPv6: over the last group, in hex
        192.0.2.20 80
        fwmark 7 inet           # a firewall mark, with its family (inet or inet6; else the real servers')
    }
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from clusters.interchange.keepalived.reader import Node
from clusters.interchange.ruleset import parse_address, parse_int

#: A group may expand to at most this many services (a /16 range written by mistake would be 65,536).
MAX_EXPANDED = 256


@dataclass(frozen=True)
class Entry:
    """One address and port (`fwmark` None), or one firewall mark (`address` None, `family` when given)."""

    line: int
    address: str | None = None
    port: int = 0
    fwmark: int | None = None
    family: str | None = None


def expand_range(text: str) -> list[str]:
    """`192.0.2.10-12` → the three addresses; `2001:db8::a-c` → three IPv6 ones; a plain address → itself."""
    if "-" not in text:
        return [parse_address(text)]
    first_text, _, last_text = text.rpartition("-")
    first = ipaddress.ip_address(parse_address(first_text))
    try:
        last_part = int(last_text, 16 if first.version == 6 else 10)
    except ValueError:
        raise ValueError(f"“{text}”: the range's end “{last_text}” is not a number") from None
    width = 0xFFFF if first.version == 6 else 0xFF
    first_part = int(first) & width
    if not first_part <= last_part <= width:
        raise ValueError(f"“{text}”: the range must run upwards within the last part of the address")
    count = last_part - first_part + 1
    if count > MAX_EXPANDED:
        raise ValueError(f"“{text}” holds {count} addresses; an import expands at most {MAX_EXPANDED} per group")
    return [str(first + step) for step in range(count)]


def entries(node: Node) -> list[Entry]:
    """The entries of a virtual_server_group block; ValueError with the line's problem."""
    found: list[Entry] = []
    for child in node.children or []:
        words = child.words
        if words[0] == "fwmark":
            if len(words) not in (2, 3):
                raise ValueError(f"line {child.line}: write fwmark MARK [inet|inet6]")
            family = None
            if len(words) == 3:
                family = {"inet": "ipv4", "inet6": "ipv6"}.get(words[2])
                if family is None:
                    raise ValueError(f"line {child.line}: fwmark family “{words[2]}” is not inet or inet6")
            found.append(Entry(child.line, fwmark=parse_int(words[1], "firewall mark", 1, 2**32 - 1), family=family))
            continue
        if child.children is not None or len(words) > 2 or "/" in words[0]:
            raise ValueError(f"line {child.line}: write ADDRESS[-LAST] PORT or fwmark MARK (not “{child.shown()}”)")
        port = parse_int(words[1], "port", 0, 65535) if len(words) == 2 else 0
        try:
            addresses = expand_range(words[0])
        except ValueError as exc:
            raise ValueError(f"line {child.line}: {exc}") from None
        found.extend(Entry(child.line, address=address, port=port) for address in addresses)
    if len(found) > MAX_EXPANDED:
        raise ValueError(f"the group holds {len(found)} entries; an import expands at most {MAX_EXPANDED}")
    return found
