"""Report sequences (agents/lvsweb_agent/sequence.py): per stream, always increasing, also across restarts and a clock
set back; one sequence file shared by the agent's threads."""

import json
import threading

from hypothesis import given
from hypothesis import strategies as st
from lvsweb_agent.sequence import SEQUENCE_FILE, ReportSequence, stream_of


class Clock:
    """A settable nanosecond clock (the machine's own cannot be set back in a test)."""

    def __init__(self, now: int):
        self.now = now

    def __call__(self) -> int:
        return self.now


def test_results_share_a_stream_and_each_kind_of_report_has_its_own():
    assert {stream_of(kind) for kind in ("deployment", "plan", "refusal")} == {"deployment"}
    assert [stream_of(kind) for kind in ("heartbeat", "health", "traffic")] == ["heartbeat", "health", "traffic"]


def test_a_sequence_is_the_time_in_nanoseconds_or_one_more_than_the_last(tmp_path):
    clock = Clock(1_000)
    sequence = ReportSequence(tmp_path, clock_ns=clock)
    assert sequence.next("heartbeat") == 1_000
    assert sequence.next("heartbeat") == 1_001  # the clock did not move
    clock.now = 5_000
    assert sequence.next("heartbeat") == 5_000
    assert sequence.next("health") == 5_000  # another stream
    assert json.loads((tmp_path / SEQUENCE_FILE).read_text()) == {"heartbeat": 5_000, "health": 5_000}


def test_a_restart_with_the_clock_set_back_goes_on_above_the_last_sequence(tmp_path):
    ReportSequence(tmp_path, clock_ns=Clock(9_000)).next("deployment")
    restarted = ReportSequence(tmp_path, clock_ns=Clock(2_000))  # NTP stepped the clock back meanwhile
    assert restarted.next("plan") == 9_001


def test_a_lost_or_unreadable_file_falls_back_on_the_clock(tmp_path):
    (tmp_path / SEQUENCE_FILE).parent.mkdir(parents=True)
    (tmp_path / SEQUENCE_FILE).write_text("{not json")
    assert ReportSequence(tmp_path, clock_ns=Clock(7_000)).next("traffic") == 7_000


def test_stamp_adds_sequence_and_sent_at_and_keeps_the_payload(tmp_path):
    stamped = ReportSequence(tmp_path, clock_ns=Clock(42)).stamp({"kind": "health", "x": 1}, now=lambda: 12.5)
    assert stamped == {"kind": "health", "x": 1, "sent_at": 12.5, "sequence": 42}


def test_threads_never_get_the_same_sequence(tmp_path):
    sequence = ReportSequence(tmp_path, clock_ns=Clock(1))
    got: list[int] = []

    def take():
        for _ in range(200):
            got.append(sequence.next("deployment"))

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(got) == list(range(1, 801))


@given(st.lists(st.tuples(st.sampled_from(["heartbeat", "plan", "health"]), st.integers(0, 10**6)), max_size=30))
def test_each_stream_only_ever_increases_whatever_the_clock_does(tmp_path_factory, steps):
    directory = tmp_path_factory.mktemp("seq")
    clock = Clock(0)
    sequence = ReportSequence(directory, clock_ns=clock)
    last: dict[str, int] = {}
    for index, (kind, now) in enumerate(steps):
        clock.now = now
        if index % 7 == 6:
            sequence = ReportSequence(directory, clock_ns=clock)  # a restart
        value = sequence.next(kind)
        assert value > last.get(stream_of(kind), -1)
        last[stream_of(kind)] = value
