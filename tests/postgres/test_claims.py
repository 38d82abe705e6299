"""Contention: many threads claiming on several stores (as several workers would), and
several workers opening (and migrating) a new database at once."""

from __future__ import annotations

import threading
from collections import Counter

from kycmux import PostgresRecordSink
from kycmux.results import Claim, PostgresResultStore
from support.pg_server import PgServer

STUDY = "contended"
PAIRS = [(f"r{n}", vendor) for n in range(40) for vendor in ("linkface", "tencent_legacy")]


def test_each_pair_is_claimed_new_exactly_once_across_workers(pg_url: str) -> None:
    workers, threads = 3, 12
    stores = [PostgresResultStore.open(pg_url, lease=60) for _ in range(workers)]
    try:
        stores[0].open_study(STUDY, kind="offline", meta={})
        start = threading.Barrier(threads)
        got: list[tuple[int, str, str, Claim]] = []
        lock = threading.Lock()

        def claim_all(n: int) -> None:
            store = stores[n % workers]
            start.wait()
            # Every thread walks every pair, half of them backwards: maximum overlap.
            order = PAIRS if n % 2 else PAIRS[::-1]
            mine = [(n % workers, *pair, store.claim(STUDY, *pair)) for pair in order]
            with lock:
                got.extend(mine)

        running = [threading.Thread(target=claim_all, args=(n,)) for n in range(threads)]
        for thread in running:
            thread.start()
        for thread in running:
            thread.join()

        new = Counter((item, vendor) for _, item, vendor, claim in got if claim is Claim.NEW)
        assert new == Counter(dict.fromkeys(PAIRS, 1))
        # A pair is another worker's (busy) for the other stores, and the own store's claim
        # (interrupted: one of its own runs would have left it) for its winner's siblings.
        winner = {(i, v): w for w, i, v, claim in got if claim is Claim.NEW}
        for worker, item, vendor, claim in got:
            if claim is Claim.NEW:
                continue
            expected = Claim.INTERRUPTED if worker == winner[item, vendor] else Claim.BUSY
            assert claim is expected
        assert len(got) == threads * len(PAIRS)
    finally:
        for store in stores:
            store.close()


def test_workers_opening_a_new_database_together_migrate_it_once(
    pg_url: str, pg_server: PgServer, pg_schema: str
) -> None:
    start = threading.Barrier(6)
    opened: list[object] = []
    failed: list[BaseException] = []

    def open_one(n: int) -> None:
        start.wait()
        try:
            # Results and records: two components, one versions table, one lock.
            thing = PostgresResultStore.open(pg_url) if n % 2 else PostgresRecordSink.open(pg_url)
        except BaseException as exc:
            failed.append(exc)
        else:
            opened.append(thing)

    running = [threading.Thread(target=open_one, args=(n,)) for n in range(6)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    for thing in opened:
        thing.close()  # type: ignore[attr-defined]
    assert failed == []
    with pg_server.admin(pg_schema) as conn:
        versions = conn.execute("SELECT component, version FROM kycmux_schema ORDER BY 1")
        assert versions.fetchall() == [("records", 2), ("results", 2)]
