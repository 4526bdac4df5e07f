"""The `lvsweb-agent` command line as an administrator runs it: a real process, its output and exit code."""

import subprocess
import sys
from importlib import metadata
from pathlib import Path

from lvsweb_agent.check import CheckReport, check_kernel
from lvsweb_agent.document import DOCUMENT_VERSION, schema

REPO = Path(__file__).resolve().parents[2]


def agent(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """`lvsweb-agent ARGS` from this checkout."""
    return subprocess.run(
        [sys.executable, "-m", "lvsweb_agent.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        **kwargs,
    )


def test_version_names_the_agent_and_the_document_format_it_reads():
    result = agent("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"lvsweb-agent {metadata.version('lvsweb')} (document format {DOCUMENT_VERSION})\n"


def test_the_document_format_is_the_schemas():
    assert schema()["properties"]["version"] == {"const": DOCUMENT_VERSION, "description": "Document format version."}


def test_show_json_into_a_pipe_nobody_reads_ends_quietly():
    # `lvsweb-agent show --json | head`: the reader is gone before the agent writes (here: from the start).
    process = subprocess.Popen(
        [sys.executable, "-m", "lvsweb_agent.cli", "show", "--json"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdout.close()
    _, stderr = process.communicate(timeout=60)
    assert stderr.decode() == ""  # no BrokenPipeError traceback, no "Exception ignored"
    assert process.returncode == 141  # as a command killed by SIGPIPE


def test_show_into_head_ends_quietly():
    result = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {sys.executable} -m lvsweb_agent.cli show --json | head -n 1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout == "{\n"
    assert "Traceback" not in result.stderr and "BrokenPipeError" not in result.stderr


def test_check_without_a_document_does_not_call_a_kernel_without_ipvs_ready():
    report = CheckReport(kernel="6.1.0", ip_vs="missing", tunnels={"ipip": "missing"})
    text = str(report)
    assert "everything the document needs is available" not in text
    assert "IPVS (ip_vs) is missing: this host cannot be a director" in text
    assert "ipip is missing: this host cannot be a TUN real server (no tunl0)" in text
    assert text.endswith("no document checked: `lvsweb-agent check FILE` says whether this kernel has what FILE needs")


def test_check_without_a_document_on_this_kernel():
    result = agent("check")
    assert result.returncode == 0, result.stderr  # no document, nothing it needs is missing
    assert "everything the document needs is available" not in result.stdout
    assert "no document checked" in result.stdout
    if check_kernel(None).ip_vs == "missing":  # this machine's own kernel has no IPVS (docs/DESIGN: the lab has)
        assert "IPVS (ip_vs) is missing: this host cannot be a director" in result.stdout


def test_check_with_a_document_still_says_when_everything_is_there(tmp_path):
    document = tmp_path / "empty.json"
    document.write_text('{"version": 1, "host": "h", "revision": 1, "director": null, "real_server": null}')
    result = agent("check", str(document))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("everything the document needs is available")
