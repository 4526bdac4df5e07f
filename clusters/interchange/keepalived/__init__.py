"""keepalived.conf: read its `virtual_server` blocks (and groups, checks, quorum, sorry server) into a rule set,
and write a rule set as such blocks.

The reader (`reader.py`) takes words and blocks as keepalived 2.2's parser does; `servers.py` maps virtual
servers with what keepalived fills in when the author wrote nothing; `groups.py` expands
virtual_server_group; `checks.py` maps checkers and their policy onto lvsweb's health checks; `render.py`
writes it all back. Whatever is not imported is named in the result's `not_imported` list with its line and
what to do instead: an import never drops a keyword without saying so.
"""

from __future__ import annotations

from clusters.interchange import keepalived_vrrp
from clusters.interchange.keepalived.reader import MAX_DEPTH, Node, Reader
from clusters.interchange.keepalived.render import render
from clusters.interchange.keepalived.servers import REASONS, Parser
from clusters.interchange.ruleset import Deadline, ParsedRules, Problem


def parse(text: str, *, seconds: float | None = None) -> ParsedRules:
    """The rule set of a keepalived.conf's virtual_server blocks; problems and keywords left out by line.

    Raises TooSlow when reading takes longer than `seconds` (default: ruleset.PARSE_SECONDS).
    """
    deadline = Deadline(seconds)
    reader = Reader(deadline=deadline)
    nodes = reader.tree(text)
    parser = Parser(deadline)
    parser.builder.result.errors.extend(reader.errors)
    parser.top(nodes)
    result = parser.builder.build()
    # Director HA (keepalived_vrrp.py): vrrp_instance, vrrp_sync_group and lvs_sync_daemon become VIP groups.
    keepalived_vrrp.attach(result, nodes)
    if not result.services and not result.errors:
        result.errors.append(Problem(0, "The text holds no virtual_server blocks (with real servers)."))
    return result


__all__ = ["MAX_DEPTH", "REASONS", "Node", "parse", "render"]
