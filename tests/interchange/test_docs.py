"""docs/import-export.md shows examples that the parsers really read as the text says."""

import re
from pathlib import Path

from clusters.interchange import keepalived, parse

DOC = (Path(__file__).resolve().parents[2] / "docs" / "import-export.md").read_text()
BLOCKS = re.findall(r"```\w*\n(.*?)```", DOC, flags=re.S)


def test_the_ipvsadm_example_reads_without_problems():
    example = next(block for block in BLOCKS if block.startswith("# /etc/ipvsadm.rules"))
    result = parse(example)
    assert result.format == "ipvsadm"
    assert result.errors == [] and result.warnings == [] and result.not_imported == []
    assert [len(service.real_servers) for service in result.services] == [2, 1, 1]


def test_the_keepalived_example_imports_everything_with_its_check_and_sorry_server():
    example = next(block for block in BLOCKS if block.startswith("virtual_server"))
    result = parse(example)
    assert result.format == "keepalived" and result.errors == [] and result.warnings == []
    assert result.not_imported == []
    (check,) = result.checks.values()
    assert (check["check_type"], check["interval"], check["timeout"], check["fall"]) == ("tcp", 6.0, 3.0, 2)
    assert (check["on_failure"], check["quorum"], check["sorry_address"]) == ("weight0", 1, "192.0.2.250")
    again = parse(keepalived.render(result.services, checks=result.checks))
    assert again.services == result.services and again.checks == result.checks
