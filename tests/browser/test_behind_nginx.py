"""The console behind the reverse proxies of deploy/ (issue 22, item 3): Debian's nginx and HAProxy, run from
deploy/nginx/lvsweb.conf and deploy/haproxy/lvsweb.cfg on loopback ports with a self-signed certificate, in
front of a daphne configured as docs/install.md says (LVSWEB_TLS=1, LVSWEB_PROXY_COUNT=1, ALLOWED_HOSTS,
CSRF_TRUSTED_ORIGINS). A browser signs in over https through each and sees a live update arrive over the
websocket through it.

The proxies run as this test's own processes (their own configuration, pid file and logs in a temporary
folder), never as the system's services. Only what a loopback test must change is rewritten: ports, server
name, certificate paths, the upstream port, and HAProxy's switch to its own user and its syslog socket.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from axes.models import AccessAttempt
from celery import current_app
from django.utils import timezone
from lvsweb_agent.envelope import generate_private_key, load_public_key, open_envelope, public_key_text
from playwright.sync_api import expect

from clusters.choices import HostRole
from dispatch import actions
from dispatch.signing import control_public_key_text
from tests.browser.conftest import PASSWORD, VIEWPORT, browser_tab, off_the_browser_thread
from tests.browser.pages import screenshot, sign_in
from tests.browser.server import REPO, Background, free_port, server_environment
from tests.certificates import self_signed
from tests.dispatch.broker import purge, take_commands
from tests.factories import make_cluster, make_cluster_host, make_host, make_real_server, make_virtual_service
from tests.reports import sealed_report

pytestmark = pytest.mark.django_db(transaction=True)

NGINX_CONF = REPO / "deploy" / "nginx" / "lvsweb.conf"
HAPROXY_CFG = REPO / "deploy" / "haproxy" / "lvsweb.cfg"
QUEUE = "lvsweb.host.director"


def rewrite(text: str, changes: dict[str, str]) -> str:
    """`text` with each key replaced by its value; each key must occur exactly once, so that a changed
    deploy file fails here instead of being tested half-rewritten."""
    for old, new in changes.items():
        assert text.count(old) == 1, f"expected {old!r} once in the deploy file, found it {text.count(old)} times"
        text = text.replace(old, new)
    return text


def need(program: str) -> str:
    path = shutil.which(program) or shutil.which(program, path="/usr/sbin:/sbin")
    if path is None:
        pytest.fail(f"{program} is missing: apt-get install {program} (.ci/run does)", pytrace=False)
    return path


def self_signed_certificate(folder: Path) -> tuple[Path, Path, Path]:
    """A certificate for 127.0.0.1 and its key: (certificate, key, both in one PEM for HAProxy)."""
    made = self_signed()
    cert_pem, key_pem = made.certificate, made.key
    paths = folder / "console.crt", folder / "console.key", folder / "console.pem"
    for path, content in zip(paths, (cert_pem, key_pem, cert_pem + key_pem), strict=True):
        path.write_bytes(content)
        path.chmod(0o600)
    return paths


class ProxiedDaphne(Background):
    """daphne on a loopback port, set up as docs/install.md sets the console up behind one proxy."""

    name = "daphne (behind the proxies)"

    def __init__(self, workdir: Path, origins: list[str]):
        self.port = free_port()
        env = server_environment(workdir / "static")
        env.update(LVSWEB_TLS="1", LVSWEB_PROXY_COUNT="1", CSRF_TRUSTED_ORIGINS=",".join(origins))
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=REPO, env=env, check=True
        )
        daphne = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "lvsweb.asgi:application"]
        super().__init__(daphne, env, workdir / "daphne.log")

    def wait_ready(self, timeout: float = 60) -> None:
        """Return once the sign-in page answers a request as the proxy sends it (X-Forwarded-Proto: https)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne ended before answering\n{self.output()}")
            with contextlib.suppress(requests.ConnectionError):
                answer = requests.get(
                    f"http://127.0.0.1:{self.port}/accounts/login/",
                    headers={"X-Forwarded-Proto": "https"},
                    allow_redirects=False,
                    timeout=5,
                )
                if answer.status_code == 200:
                    return
            time.sleep(0.3)
        raise RuntimeError(f"daphne did not answer within {timeout:.0f} s\n{self.output()}")


class Proxy(Background):
    """A reverse proxy run in the foreground from a configuration in `workdir`; `url` is its https address."""

    def __init__(self, name: str, command: list[str], workdir: Path, https_port: int, http_port: int):
        self.name = name
        self.url = f"https://127.0.0.1:{https_port}"
        self.http_url = f"http://127.0.0.1:{http_port}"
        super().__init__(command, {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}, workdir / f"{name}.log")

    def wait_ready(self, certificate: Path, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} ended early\n{self.output()}")
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"{self.url}/accounts/login/", verify=str(certificate), timeout=5).status_code == 200:
                    return
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} did not pass the sign-in page on within {timeout:.0f} s\n{self.output()}")


def nginx_config(workdir: Path, certificate: Path, key: Path, https_port: int, http_port: int, upstream: int) -> Path:
    """deploy/nginx/lvsweb.conf on loopback ports, included in a main configuration of this test's own."""
    site = rewrite(
        NGINX_CONF.read_text(),
        {
            "    listen 80;\n": f"    listen 127.0.0.1:{http_port};\n",
            "    listen [::]:80;\n": "",
            "    listen 443 ssl http2;\n": f"    listen 127.0.0.1:{https_port} ssl http2;\n",
            "    listen [::]:443 ssl http2;\n": "",
            "/etc/lvsweb/tls/console.crt": str(certificate),
            "/etc/lvsweb/tls/console.key": str(key),
            "server 127.0.0.1:8000;": f"server 127.0.0.1:{upstream};",
        },
    ).replace("server_name lvs-console.example.net;", "server_name 127.0.0.1;")
    (workdir / "lvsweb.conf").write_text(site)
    main = workdir / "nginx.conf"
    temp = "\n".join(
        f"    {kind}_temp_path {workdir / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main.write_text(
        f"daemon off;\npid {workdir / 'nginx.pid'};\nerror_log stderr info;\nevents {{}}\n"
        f"http {{\n    access_log {workdir / 'access.log'};\n{temp}\n    include {workdir / 'lvsweb.conf'};\n}}\n"
    )
    return main


def haproxy_config(workdir: Path, pem: Path, https_port: int, http_port: int, upstream: int) -> Path:
    """deploy/haproxy/lvsweb.cfg on loopback ports, as this test's user, logging to its standard output."""
    config = rewrite(
        HAPROXY_CFG.read_text(),
        {
            "    user haproxy\n": "",
            "    group haproxy\n": "",
            "log /dev/log local0": "log stdout format raw local0",
            "bind :::443 v4v6 ssl crt /etc/lvsweb/tls/console.pem": f"bind 127.0.0.1:{https_port} ssl crt {pem}",
            "bind :::80 v4v6": f"bind 127.0.0.1:{http_port}",
            "server daphne 127.0.0.1:8000": f"server daphne 127.0.0.1:{upstream}",
        },
    )
    path = workdir / "haproxy.cfg"
    path.write_text(config)
    return path


@pytest.fixture(scope="module")
def proxied(django_db_setup, tmp_path_factory):
    """daphne behind nginx and HAProxy, each on its own https and http ports: {"nginx": …, "haproxy": …}."""
    workdir = tmp_path_factory.mktemp("proxied")
    certificate, key, pem = self_signed_certificate(workdir)
    ports = {name: (free_port(), free_port()) for name in ("nginx", "haproxy")}
    daphne = ProxiedDaphne(workdir, [f"https://127.0.0.1:{https}" for https, _ in ports.values()])
    proxies: dict[str, Proxy] = {}
    try:
        daphne.wait_ready()
        https, http = ports["nginx"]
        main = nginx_config(workdir, certificate, key, https, http, daphne.port)
        proxies["nginx"] = Proxy("nginx", [need("nginx"), "-c", str(main), "-p", str(workdir)], workdir, https, http)
        https, http = ports["haproxy"]
        config = haproxy_config(workdir, pem, https, http, daphne.port)
        proxies["haproxy"] = Proxy("haproxy", [need("haproxy"), "-db", "-f", str(config)], workdir, https, http)
        for proxy in proxies.values():
            proxy.wait_ready(certificate)
        yield proxies, certificate
    finally:
        for proxy in proxies.values():
            proxy.stop()
        daphne.stop()


@pytest.fixture
def enrolled_director(operator):
    """Cluster “web” with one enrolled, online director whose key the test holds, applied once (revision 1)."""
    purge("control", QUEUE)
    key = generate_private_key()
    cluster = make_cluster(name="web frontend", slug="web")
    director = make_host(
        hostname="director",
        vip_interface="eth0",
        public_key=public_key_text(key),
        enrolled_at=timezone.now(),
        agent_status="online",
        last_heartbeat_at=timezone.now(),
    )
    make_cluster_host(cluster=cluster, host=director, role=HostRole.DIRECTOR)
    service = make_virtual_service(cluster=cluster, address="10.10.0.100", port=80, scheduler="rr")
    make_real_server(virtual_service=service, address="10.20.0.11")
    off_the_browser_thread(actions.apply_cluster, acting_user=None, cluster=cluster)
    yield key
    purge("control", QUEUE)


@pytest.mark.parametrize("proxy_name", ["nginx", "haproxy"])
def test_sign_in_over_https_and_see_an_apply_progress_live_through_the_proxy(
    proxy_name, proxied, chromium, enrolled_director, control_worker, request
):
    proxies, _ = proxied
    proxy = proxies[proxy_name]
    with browser_tab(chromium, proxy, request, viewport=VIEWPORT, ignore_https_errors=True) as page:
        sign_in(page, "olivia", PASSWORD)  # a POST with its CSRF token, over https, through the proxy
        assert page.url.startswith(proxy.url)
        page.goto("/clusters/web/revisions/1/")
        row = page.get_by_role("row").filter(has_text="director")
        expect(row.get_by_text("pending", exact=True)).to_be_visible()
        expect(page.get_by_text("Live: changes appear as they happen.")).to_be_visible()  # wss:// through it
        page.evaluate("window.stillTheSamePage = true")

        [envelope] = take_commands(QUEUE)
        command = open_envelope(envelope, load_public_key(control_public_key_text()))
        payload = {"host": "director", "kind": "deployment", "status": "applying"}
        payload.update(deployment=command["deployment"], serial=command["serial"])
        current_app.send_task(
            "lvsweb.control.report", args=[sealed_report(payload, enrolled_director, "director")], queue="control"
        )

        expect(row.get_by_text("applying", exact=True)).to_be_visible()
        assert page.evaluate("window.stillTheSamePage") is True  # it came over the websocket, not by a reload
        screenshot(page, f"behind-{proxy_name}")


@pytest.mark.parametrize("proxy_name", ["nginx", "haproxy"])
def test_plain_http_is_sent_to_https_and_the_session_cookie_is_secure(proxy_name, proxied):
    proxies, certificate = proxied
    proxy = proxies[proxy_name]
    redirect = requests.get(f"{proxy.http_url}/accounts/login/", allow_redirects=False, timeout=10)
    assert redirect.status_code == 301
    assert redirect.headers["Location"].startswith("https://127.0.0.1")
    answer = requests.get(f"{proxy.url}/accounts/login/", verify=str(certificate), timeout=10)
    assert answer.status_code == 200
    assert "Strict-Transport-Security" in answer.headers  # the console knows it is served over https
    assert "Secure" in answer.headers["Set-Cookie"]  # the CSRF cookie is never sent over plain http


@pytest.mark.parametrize("proxy_name", ["nginx", "haproxy"])
def test_the_proxy_config_passes_its_own_check(proxy_name, proxied):
    """`nginx -t` / `haproxy -c` on the files the running proxies use: what an operator runs before a reload."""
    proxies, _ = proxied
    command = proxies[proxy_name].process.args
    check = [*command[:1], "-t", *command[1:]] if proxy_name == "nginx" else [command[0], "-c", *command[2:]]
    result = subprocess.run(check, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("proxy_name", ["nginx", "haproxy"])
def test_a_failed_sign_in_counts_against_the_address_the_proxy_saw_not_the_one_the_client_claims(
    proxy_name, proxied, operator
):
    """With LVSWEB_PROXY_COUNT=1 the console takes the address the proxy appended to X-Forwarded-For; an
    address the client wrote there itself (to dodge the lockout or blame another) is not believed."""
    proxies, certificate = proxied
    proxy = proxies[proxy_name]
    session = requests.Session()
    form = session.get(f"{proxy.url}/accounts/login/", verify=str(certificate), timeout=10)
    token = form.text.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    answer = session.post(
        f"{proxy.url}/accounts/login/",
        data={"csrfmiddlewaretoken": token, "username": "olivia", "password": "not her password"},
        headers={"Referer": f"{proxy.url}/accounts/login/", "X-Forwarded-For": "203.0.113.9"},
        verify=str(certificate),
        timeout=10,
    )
    assert answer.status_code == 200  # the form again, with its error: the CSRF check passed through the proxy
    assert "203.0.113.9" not in AccessAttempt.objects.values_list("ip_address", flat=True)
    assert AccessAttempt.objects.get(username="olivia").ip_address == "127.0.0.1"
