"""When a pattern-subscribed consumer asks for every topic's metadata itself."""

from pipeline.kafka.discovery import TopicDiscovery


def test_nothing_awaited_means_no_ask() -> None:
    d = TopicDiscovery(give_up_s=60)
    assert not d.due(0.0) and not d.due(1e9)


def test_an_awaited_topic_is_asked_for_soon_then_less_and_less_often_until_seen() -> None:
    d = TopicDiscovery(give_up_s=60, first_s=0.5)
    d.expect(["t.ingest.op-new"], now=100.0)
    assert not d.due(100.4) and d.due(100.5)
    assert d.asked(set(), now=100.5) == frozenset()  # not in the brokers' metadata yet
    assert not d.due(101.4) and d.due(101.5)  # 1 s later
    assert d.asked({"t.other"}, now=101.5) == frozenset()
    assert not d.due(103.4) and d.due(103.5)  # 2 s later
    assert d.asked({"t.ingest.op-new", "t.other"}, now=103.5) == {"t.ingest.op-new"}
    assert not d.waiting and not d.due(1e9)


def test_a_new_expectation_asks_soon_again_and_each_topic_is_dropped_once_seen() -> None:
    d = TopicDiscovery(give_up_s=60, first_s=0.5)
    d.expect(["a"], now=0.0)
    for now in (0.5, 1.5, 3.5, 7.5):
        assert d.due(now)
        d.asked(set(), now)
    assert not d.due(10.0)  # next at 15.5
    d.expect(["b"], now=10.0)
    assert d.due(10.5)
    assert d.asked({"b"}, now=10.5) == {"b"}
    assert d.waiting == {"a"} and d.due(11.5)


def test_a_topic_that_never_appears_is_left_to_the_periodic_refresh() -> None:
    d = TopicDiscovery(give_up_s=8, first_s=1)
    d.expect(["gone"], now=0.0)
    asks = 0
    now = 0.0
    while d.waiting and now < 100:
        now += 0.25
        if d.due(now):
            asks += 1
            d.asked(set(), now)
    assert not d.waiting and 8 <= now < 16  # at 1, 3, 7, then 15 s: given up
    assert asks == 4
