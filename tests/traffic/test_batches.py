"""The agent's side: batches carry only what changed, a full table now and then, and what disappeared."""

from lvsweb_agent.stats import BatchEncoder

SERVICE = ("tcp 10.0.0.1:80", None, 0)
RS1 = ("tcp 10.0.0.1:80", "10.1.0.11", 80)
RS2 = ("tcp 10.0.0.1:80", "10.1.0.12", 80)


def test_the_first_batch_is_full_then_only_changes_and_removals_travel():
    encoder = BatchEncoder("director", 1.0, full_every=3)
    table = {SERVICE: (2, 0, 5, 50, 0, 3000, 0), RS1: (1, 0, 3, 30, 0, 1800, 0), RS2: (1, 0, 2, 20, 0, 1200, 0)}

    first = encoder.encode(table, 100.0)
    assert (first["full"], first["seq"], len(first["rows"]), first["gone"]) == (True, 1, 3, [])
    assert first["rows"][1] == ["tcp 10.0.0.1:80", "10.1.0.11", 80, 1, 0, 3, 30, 0, 1800, 0]

    second = encoder.encode({**table, RS1: (2, 0, 4, 40, 0, 2400, 0)}, 101.0)
    assert (second["full"], second["rows"]) == (False, [["tcp 10.0.0.1:80", "10.1.0.11", 80, 2, 0, 4, 40, 0, 2400, 0]])

    third = encoder.encode({SERVICE: table[SERVICE], RS1: (2, 0, 4, 40, 0, 2400, 0)}, 102.0)
    assert (third["rows"], third["gone"]) == ([], [list(RS2)])

    fourth = encoder.encode({SERVICE: table[SERVICE], RS1: (2, 0, 4, 40, 0, 2400, 0)}, 103.0)
    assert fourth["full"] and len(fourth["rows"]) == 2
    assert {first["epoch"]} == {second["epoch"], fourth["epoch"]}


def test_a_host_without_ipvs_sends_nothing_and_a_new_reader_has_a_new_epoch():
    encoder = BatchEncoder("rs1", 1.0)
    assert encoder.encode({}, 100.0) is None
    assert encoder.encode({}, 101.0) is None
    assert BatchEncoder("rs1", 1.0).epoch != encoder.epoch
