"""Deduplication across sources (URL or title) and across restarts, bounded in size and age."""

from __future__ import annotations

from bbdash.news_feeder.dedupe import DedupeStore, normalise_title, normalise_url


def test_url_normalisation_drops_tracking_and_cosmetics():
    a = normalise_url("https://www.Example.com/a/b/?utm_source=rss&id=7&fbclid=x#top")
    b = normalise_url("http://example.com/a/b?id=7")
    assert a == b == "//example.com/a/b?id=7"
    assert normalise_url("https://example.com/a?b=2&a=1") == normalise_url(
        "https://example.com/a?a=1&b=2"
    )
    assert normalise_url("https://example.com/a?id=1") != normalise_url(
        "https://example.com/a?id=2"
    )


def test_title_normalisation_ignores_case_accents_and_punctuation():
    assert normalise_title("Bitcoin  SLIDES — below $40,000!") == normalise_title(
        "bitcoin slides below 40 000"
    )
    assert normalise_title("Société Générale beats") == "societe generale beats"


def test_same_story_from_two_sources_is_a_duplicate(tmp_path):
    store = DedupeStore(tmp_path / "d.sqlite")
    assert not store.seen_or_add("https://a.example/x?utm_medium=rss", "Tesla shares tumble")
    # Same URL, different tracking: duplicate.
    assert store.seen_or_add("https://www.a.example/x", "Another title entirely here")
    # Different URL, same headline (NewsAPI copy of an RSS item): duplicate.
    assert store.seen_or_add("https://b.example/y", "TESLA shares tumble.")
    # Short titles are not used as keys: different URLs stay distinct.
    assert not store.seen_or_add("https://c.example/1", "Markets")
    assert not store.seen_or_add("https://c.example/2", "Markets")


def test_seen_articles_survive_a_restart(tmp_path):
    path = tmp_path / "d.sqlite"
    store = DedupeStore(path)
    store.seen_or_add("https://a.example/x", "Ethereum rallies after upgrade")
    store.close()
    reopened = DedupeStore(path)
    assert reopened.seen_or_add("https://a.example/x", "Ethereum rallies after upgrade")


def test_entries_expire_by_age(tmp_path):
    now = [1_000_000.0]
    store = DedupeStore(tmp_path / "d.sqlite", max_age_s=3600, clock=lambda: now[0])
    store.seen_or_add("https://a.example/x", "Gold hits an all-time high again")
    now[0] += 3601
    assert not store.seen_or_add("https://a.example/x", "Gold hits an all-time high again")
    store.prune()
    assert len(store) == 2  # only the fresh pair (URL + title keys)


def test_store_is_bounded_in_size(tmp_path):
    now = [0.0]

    def clock() -> float:
        now[0] += 1
        return now[0]

    store = DedupeStore(tmp_path / "d.sqlite", max_entries=100, clock=clock)
    for i in range(200):
        store.seen_or_add(f"https://a.example/{i}", f"Headline number {i} about markets")
    store.prune()
    assert len(store) == 100
    # The newest survive, the oldest were evicted.
    assert store.seen_or_add("https://a.example/199", "x")
    assert not store.seen_or_add("https://a.example/0", "y")
