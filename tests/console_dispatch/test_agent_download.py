"""The agent bundle a bare host installs from: `manage.py build_agent_bundle`, /agent/download/, the enrollment
page's three lines, and a real pip installing the agent from the console over HTTP with no package index.

The bundle is built once for the module, for real (the agent's wheel from agents/, the locked dependencies
from var/wheelhouse, or the index when the wheelhouse lacks them, as tests/lvsweb/test_wheel.py does).
"""

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from tests.lvsweb.test_wheel import AGENT_DEPENDENCIES, CLEAN_ENV, ROOT, run

LINK = re.compile(r'<a href="(?P<name>[^"#]+)#sha256=(?P<digest>[0-9a-f]{64})">')


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A bundle built by the management command (into a folder of the module's own)."""
    folder = tmp_path_factory.mktemp("bundle") / "agent-bundle"
    from django.conf import settings as django_settings

    previous = django_settings.AGENT_BUNDLE_DIR
    django_settings.AGENT_BUNDLE_DIR = folder
    try:
        call_command("build_agent_bundle", wheelhouse=ROOT / "var" / "wheelhouse")
    finally:
        django_settings.AGENT_BUNDLE_DIR = previous
    return folder


@pytest.fixture
def bundle(built, settings) -> Path:
    settings.AGENT_BUNDLE_DIR = built
    return built


def test_without_a_bundle_the_download_says_how_to_build_one_and_so_does_the_enrollment_page(
    lab, operator, settings, tmp_path
):
    settings.AGENT_BUNDLE_DIR = tmp_path / "none"
    response = Client().get("/agent/download/")
    assert response.status_code == 404
    assert "run `manage.py build_agent_bundle`" in response.content.decode()

    body = operator.get(f"/hosts/{lab.rs2.pk}/enroll/").content.decode()
    assert 'id="no-bundle"' in body and "<code>manage.py build_agent_bundle</code>" in body
    assert "--find-links" not in body


@pytest.mark.django_db
@pytest.mark.parametrize("manifest", ["", "{", '{"files": []}', '{"agent_version": "1"}', "[]"])
def test_a_broken_manifest_counts_as_no_bundle(settings, tmp_path, manifest):
    settings.AGENT_BUNDLE_DIR = tmp_path
    (tmp_path / "manifest.json").write_text(manifest)
    response = Client().get("/agent/download/")
    assert response.status_code == 404 and "manage.py build_agent_bundle" in response.content.decode()


@pytest.mark.timeout(600)
def test_the_bundle_is_the_agent_and_exactly_its_locked_dependencies_with_their_checksums(bundle):
    wheels = sorted(p.name for p in bundle.glob("*.whl"))
    names = {name.split("-")[0].lower().replace("_", "-") for name in wheels}
    assert names == AGENT_DEPENDENCIES | {"lvsweb-agent"}, names ^ (AGENT_DEPENDENCIES | {"lvsweb-agent"})
    sums = dict(line.split("  ")[::-1] for line in (bundle / "SHA256SUMS").read_text().splitlines())
    assert sorted(sums) == wheels
    for name, digest in sums.items():
        assert hashlib.sha256((bundle / name).read_bytes()).hexdigest() == digest


@pytest.mark.django_db
def test_the_download_page_needs_no_account_and_links_every_file_with_its_hash(bundle):
    client = Client()  # a host has no console account
    index = client.get("/agent/download/")
    assert index.status_code == 200 and index["Content-Type"].startswith("text/html")
    links = {m["name"]: m["digest"] for m in LINK.finditer(index.content.decode())}
    assert set(links) == {p.name for p in bundle.glob("*.whl")}
    for name, digest in links.items():
        response = client.get(f"/agent/download/{name}")
        assert response.status_code == 200 and response["Content-Type"] == "application/zip"
        assert hashlib.sha256(b"".join(response.streaming_content)).hexdigest() == digest
    sums = client.get("/agent/download/SHA256SUMS")
    assert sums.status_code == 200 and sums["Content-Type"].startswith("text/plain")


@pytest.mark.django_db
def test_the_download_serves_nothing_but_the_manifests_files(bundle):
    (bundle / "stray.whl").write_bytes(b"not in the manifest")
    client = Client()
    try:
        for path in (
            "/agent/download/stray.whl",
            "/agent/download/..%2Fagent-bundle%2Fmanifest.json",
            "/agent/download/%2Fetc%2Fpasswd",
            "/agent/download/../../lvsweb/settings.py",
            "/agent/download/.",
        ):
            assert client.get(path).status_code == 404, path
    finally:
        (bundle / "stray.whl").unlink()


def test_the_enrollment_page_shows_the_three_lines_with_this_consoles_download_url(lab, operator, bundle):
    body = operator.get(f"/hosts/{lab.rs2.pk}/enroll/").content.decode()
    assert (
        '<pre><code id="install-commands">python3 -m venv /opt/lvsweb-agent\n'
        "/opt/lvsweb-agent/bin/pip install --no-index --find-links http://testserver/agent/download/ lvsweb-agent\n"
        "/opt/lvsweb-agent/bin/lvsweb-agent install-unit</code></pre>"
    ) in body
    assert 'id="no-bundle"' not in body
    assert "systemctl daemon-reload &amp;&amp; systemctl enable --now lvsweb-agent" in body


@pytest.mark.timeout(600)
def test_pip_installs_the_agent_from_the_console_with_no_package_index(bundle, live_server, tmp_path):
    venv = tmp_path / "opt" / "lvsweb-agent"
    run(sys.executable, "-m", "venv", venv)
    # The second of the three lines, as the page shows it (a loopback http URL is one pip trusts).
    run(venv / "bin" / "pip", "install", "-q", "--no-index", "--find-links", f"{live_server.url}/agent/download/",
        "lvsweb-agent")  # fmt: skip
    listed = run(venv / "bin" / "pip", "list", "--format=freeze", "--exclude", "pip", "--exclude", "setuptools")
    installed = {line.split("==")[0].lower().replace("_", "-") for line in listed.stdout.split()}
    assert installed == AGENT_DEPENDENCIES | {"lvsweb-agent"}, installed ^ (AGENT_DEPENDENCIES | {"lvsweb-agent"})
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    assert run(venv / "bin" / "lvsweb-agent", "--version", cwd=outside).stdout.startswith("lvsweb-agent 0.1.0")
    # The third line (under a root of the test's), from that virtualenv: its unit runs that virtualenv's agent.
    root = tmp_path / "root"
    run(venv / "bin" / "lvsweb-agent", "--root", root, "install-unit", cwd=outside)
    unit = (root / "etc" / "systemd" / "system" / "lvsweb-agent.service").read_text()
    assert f"\nExecStart={venv}/bin/lvsweb-agent run\n" in unit
    no_django = subprocess.run([venv / "bin" / "python", "-c", "import django"], capture_output=True, env=CLEAN_ENV)
    assert no_django.returncode == 1
