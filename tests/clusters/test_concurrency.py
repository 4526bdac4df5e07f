"""Cross-cluster VIP checks hold when two changes race: the second waits for the first and is refused.

Each change runs in its own thread and database connection; the first holds its transaction open until the
second has started, as two API requests arriving together would.
"""

import threading
import time

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from clusters import actions
from clusters.models import ClusterHost, VirtualService
from tests.clusters.rules import service
from tests.factories import make_cluster, make_cluster_host, make_host, make_virtual_service

pytestmark = pytest.mark.django_db(transaction=True)


def race(first, second) -> list[BaseException | None]:
    """Run `first` in a transaction held open until `second` (in another thread) had time to run; return
    what each raised (None for success)."""
    outcome: list[BaseException | None] = [None, None]
    first_done = threading.Event()

    def run_first():
        try:
            with transaction.atomic():
                first()
                first_done.set()
                time.sleep(0.5)  # `second` runs now, while this transaction is still open
        except BaseException as exc:
            outcome[0] = exc
        finally:
            first_done.set()
            connection.close()

    def run_second():
        first_done.wait(10)
        try:
            second()
        except BaseException as exc:
            outcome[1] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run_first), threading.Thread(target=run_second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    return outcome


def test_two_clusters_sharing_a_director_cannot_both_take_a_vip_at_once():
    director = make_host()
    first, second = make_cluster(), make_cluster()
    make_cluster_host(cluster=first, host=director)
    make_cluster_host(cluster=second, host=director)

    outcome = race(
        lambda: actions.create_virtual_service(acting_user=None, cluster=first, fields=service(address="10.8.8.8")),
        lambda: actions.create_virtual_service(acting_user=None, cluster=second, fields=service(address="10.8.8.8")),
    )

    assert outcome[0] is None
    assert isinstance(outcome[1], ValidationError), outcome[1]
    assert "already used by cluster" in " ".join(outcome[1].message_dict["address"])
    assert list(VirtualService.objects.values_list("cluster_id", flat=True)) == [first.pk]


def test_a_director_cannot_join_a_cluster_while_it_takes_a_vip_the_director_holds():
    director = make_host()
    first = make_virtual_service(address="10.8.8.8").cluster
    make_cluster_host(cluster=first, host=director)
    second = make_cluster()

    outcome = race(
        lambda: actions.create_virtual_service(acting_user=None, cluster=second, fields=service(address="10.8.8.8")),
        lambda: actions.assign_host_role(acting_user=None, cluster=second, host=director, role="director"),
    )

    assert outcome[0] is None
    assert isinstance(outcome[1], ValidationError), outcome[1]
    assert "already directs cluster" in " ".join(outcome[1].message_dict["host"])
    assert not ClusterHost.objects.filter(cluster=second).exists()
