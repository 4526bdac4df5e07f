"""The rule for a host's name, shared by the agent (its configuration) and the console (the Host form and API).

A hostname names the host's broker queue (`lvsweb.host.NAME`) and its Redis user, and appears in commands,
file names and pages, so it is held to RFC 1123: dot-separated labels of letters, digits and hyphens, each 1 to
63 characters and neither starting nor ending with a hyphen, 253 characters at most in all. No spaces, slashes,
markup or line breaks. Plain Python: the agent imports nothing of the console, the console imports this.
"""

import re

MAX_LENGTH = 253
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def hostname_problem(name: str) -> str | None:
    """Why `name` is not a valid hostname (RFC 1123), in words; None when it is one."""
    if not isinstance(name, str) or not name:
        return "a hostname cannot be empty"
    if len(name) > MAX_LENGTH:
        return f"a hostname has at most {MAX_LENGTH} characters (this one has {len(name)})"
    for label in name.split("."):
        if not label:
            return "a hostname cannot have an empty part (two dots in a row, or a dot at either end)"
        if not _LABEL.fullmatch(label):
            shown = label if len(label) <= 40 else label[:39] + "…"
            return (
                f"“{shown}” is not a valid part of a hostname: use letters, digits and hyphens (not at either end), "
                "1 to 63 characters between dots (RFC 1123)"
            )
    return None
