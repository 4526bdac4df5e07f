"""Import and export of IPVS rule sets: `ipvsadm-save -n` text and keepalived.conf virtual_server blocks.

Plain Python (no Django): the parsers turn text into a rule set (`ruleset.ParsedRules`, the agent's own
`Service` model with the line of every item and problems by line) and the renderers turn a rule set into
text. The console's actions (`clusters/actions/imports.py`) map a rule set onto a cluster's inventory.
"""

from clusters.interchange import ipvsadm, keepalived
from clusters.interchange.ruleset import FORMATS, ParsedRules, Problem, Problems, TooSlow, canonical

PARSERS = {"ipvsadm": ipvsadm.parse, "keepalived": keepalived.parse}


def detect_format(text: str) -> str:
    """`keepalived` when the text has a virtual_server block, else `ipvsadm`."""
    for line in text.splitlines():
        words = line.split()
        if words and words[0] == "virtual_server":
            return "keepalived"
    return "ipvsadm"


def parse(text: str, format: str = "auto", *, seconds: float | None = None) -> ParsedRules:
    """Parse `text` in `format` (`ipvsadm`, `keepalived`, or `auto` to detect it).

    Raises TooSlow when reading takes longer than `seconds` (the caller tells the user to split the text).
    """
    if format == "auto":
        format = detect_format(text)
    if format not in PARSERS:
        raise ValueError(f"unknown format “{format}” (one of auto, {', '.join(FORMATS)})")
    return PARSERS[format](text, seconds=seconds)


def render(services, format: str, *, header: str = "", methods=None, checks=None, dest_checks=None, groups=None) -> str:
    """Write a rule set in `format`; keepalived only: `header` becomes comment lines at the top, `methods` gives
    the lb_kind of services without real servers, `checks`/`dest_checks` the health checks, `groups` the
    virtual_server_group of services (see keepalived.render)."""
    if format == "ipvsadm":
        return ipvsadm.render(services)
    if format == "keepalived":
        return keepalived.render(
            services, header=header, methods=methods, checks=checks, dest_checks=dest_checks, groups=groups
        )
    raise ValueError(f"unknown format “{format}” (one of {', '.join(FORMATS)})")


__all__ = [
    "FORMATS",
    "ParsedRules",
    "Problem",
    "Problems",
    "TooSlow",
    "canonical",
    "detect_format",
    "parse",
    "render",
]
