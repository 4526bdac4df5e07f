"""Revoke, enrollment tokens and enroll on one host at once: no deadlock, never a 500; busy answers 503."""

import threading
import time
from collections import Counter

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from lvsweb_agent.envelope import generate_private_key, public_key_text
from rest_framework.test import APIClient

from clusters.models import Cluster
from dispatch import actions
from tests.factories import make_cluster, make_host, make_member, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def run_for(seconds: float, *loops) -> tuple[Counter, list[BaseException]]:
    """Run each loop body over and over in its own thread for `seconds`; count outcomes, keep surprises."""
    outcomes: Counter = Counter()
    surprises: list[BaseException] = []
    stop_at = time.monotonic() + seconds

    def worker(body):
        try:
            while time.monotonic() < stop_at:
                try:
                    body()
                    outcomes[body.__name__] += 1
                except ValidationError:
                    outcomes[body.__name__ + " refused"] += 1
                except Exception as exc:
                    surprises.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(body,)) for body in loops]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)
    return outcomes, surprises


def test_revoke_token_and_enroll_at_once_never_deadlock():
    owner = make_user(staff=False)
    make_member(owner)
    host = make_host(hostname="contested")
    public_key = public_key_text(generate_private_key())

    def token_then_enroll():
        _token, secret = actions.create_enrollment_token(acting_user=owner, host=host)
        actions.enroll_host(token=secret, public_key=public_key, facts={"kernel": "6.1"})

    def revoke():
        actions.revoke_host(acting_user=owner, host=host)

    def token():
        actions.create_enrollment_token(acting_user=owner, host=host)

    outcomes, surprises = run_for(8, token_then_enroll, revoke, token)
    assert not surprises, f"{len(surprises)} errors, e.g. {surprises[0]!r}"
    assert outcomes["token_then_enroll"] and outcomes["token"], outcomes
    assert outcomes["revoke"] + outcomes["revoke refused"], outcomes


def test_a_lock_that_is_not_released_in_time_answers_503_not_500():
    owner = make_user(staff=False)
    make_member(owner)
    make_cluster(name="web", slug="web")
    holding, release = threading.Event(), threading.Event()

    def hold_the_cluster():
        try:
            with transaction.atomic():
                Cluster.objects.select_for_update().get(slug="web")
                holding.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_cluster)
    holder.start()
    try:
        assert holding.wait(10)
        with connection.cursor() as cursor:  # this test's requests run on this connection
            cursor.execute("SET lock_timeout = '300ms'")
        # As a real server would: the handler's answer, not the exception re-raised into the test.
        api = APIClient(raise_request_exception=False)
        api.force_login(owner)
        answer = api.patch("/api/clusters/web/", {"description": "changed"}, format="json")
        page = api.post(
            "/clusters/web/edit/", {"name": "web", "slug": "web", "description": "changed", "drain_timeout": 30}
        )
    finally:
        release.set()
        holder.join(30)
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
    assert answer.status_code == 503, answer.content
    assert "busy" in answer.json()["detail"] and answer["Retry-After"] == "2"
    assert page.status_code == 503 and b"Try again" in page.content
    assert Cluster.objects.get(slug="web").description == ""  # nothing was half-done
