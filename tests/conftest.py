"""Fixtures shared by the console's tests: users and API clients signed in the ways operators sign in."""

import os
import uuid

import pytest
import redis
from django.conf import settings
from rest_framework.test import APIClient

from tests.factories import make_member, make_user


@pytest.fixture
def team_owner(db):
    """An owner of the default team, which every factory object belongs to: may do everything there."""
    user = make_user(staff=False)
    make_member(user)
    return user


@pytest.fixture
def api(team_owner):
    """An API client with the session of an owner of the default team."""
    client = APIClient()
    client.force_login(team_owner)
    return client


@pytest.fixture
def anonymous_api():
    """An API client that has not signed in."""
    return APIClient()


@pytest.fixture(scope="session", autouse=True)
def broker_user_prefix():
    """Enrollment makes real Redis ACL users: name this run's uniquely and delete them (and only them) at the end.

    Set in the environment too, so that consoles the tests start as processes (browser, lab) use it.
    """
    prefix = f"lvsweb-test-{uuid.uuid4().hex[:10]}."
    settings.BROKER_USER_PREFIX = os.environ["LVSWEB_BROKER_USER_PREFIX"] = prefix
    yield prefix
    try:
        with redis.Redis.from_url(settings.BROKER_ADMIN_URL, socket_connect_timeout=5) as client:
            mine = [name for name in client.acl_users() if name.startswith(prefix)]
            if mine:
                client.acl_deluser(*mine)
    except redis.ConnectionError:
        pass  # a run without Redis made no users


@pytest.fixture(autouse=True)
def _agent_bundle_dir(settings, tmp_path):
    """No agent bundle unless a test builds one: AGENT_BUNDLE_DIR is a folder of the test's, not the tree's var/."""
    settings.AGENT_BUNDLE_DIR = tmp_path / "agent-bundle"


@pytest.fixture(autouse=True)
def _audit_anchor_files(settings, tmp_path_factory, monkeypatch):
    """Audit keys and checkpoints of this test run in a temporary directory, not in the tree's var/.

    Checkpoints are per test: one left by an earlier test would name entries a later test's database
    never had. The environment says the same, so that workers and servers the test starts use the same keys.
    """
    keys_dir = tmp_path_factory.getbasetemp() / "audit-keys"
    files = {
        "AUDIT_HMAC_KEYS_FILE": str(keys_dir / "audit-hmac-keys"),
        "AUDIT_SIGNING_KEY_FILE": str(keys_dir / "audit-signing-key.pem"),
        "AUDIT_CHECKPOINT_FILE": str(tmp_path_factory.mktemp("audit") / "audit-checkpoints.jsonl"),
    }
    settings.AUDIT_HMAC_KEYS = ""
    monkeypatch.delenv("LVSWEB_AUDIT_HMAC_KEYS", raising=False)
    for name, value in files.items():
        setattr(settings, name, value)
        monkeypatch.setenv(f"LVSWEB_{name}", value)
