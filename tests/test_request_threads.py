"""`docket serve --threads N`: a serving process works on at most N requests at once, the
rest waiting their turn (docket.web.request_threads); anyio's 40 when an app is embedded."""

from __future__ import annotations

import gc
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from docket.locker import Locker
from docket.web.app import create_app

REQUESTS = 6


def _most_at_once(locker: Locker, threads: int | None) -> int:
    """How many of REQUESTS slow requests, sent together, ran at the same time."""
    app = create_app(locker, threads=threads)
    state = {"running": 0, "most": 0}
    lock = threading.Lock()

    @app.get("/api/slow")
    def slow() -> dict[str, int]:
        with lock:
            state["running"] += 1
            state["most"] = max(state["most"], state["running"])
        time.sleep(0.3)
        with lock:
            state["running"] -= 1
        return {}

    with TestClient(app) as client, ThreadPoolExecutor(REQUESTS) as pool:
        answers = list(pool.map(lambda _: client.get("/api/slow").status_code, range(REQUESTS)))
    assert answers == [200] * REQUESTS  # every one answered: waiting is not refusing
    return state["most"]


def test_a_process_works_on_at_most_its_threads(locker: Locker) -> None:
    assert _most_at_once(locker, threads=2) == 2


def test_an_embedded_app_keeps_anyios_default(locker: Locker) -> None:
    assert _most_at_once(locker, threads=None) > 2  # the cap above is the option's doing


def test_a_serving_process_freezes_what_it_made_while_starting(locker: Locker) -> None:
    """`serve`'s lifespan moves the objects of a started process out of the collector's reach
    (docket.web.collector); an embedded app leaves its host's collector alone."""
    gc.unfreeze()
    try:
        with TestClient(create_app(locker)) as client:
            assert client.get("/api/health").status_code == 200
            assert gc.get_freeze_count() == 0
        made_before: list[str] = []  # a container: one the collector tracks
        assert any(found is made_before for found in gc.get_objects())
        with TestClient(create_app(locker, threads=2)) as client:
            assert client.get("/api/health").status_code == 200
            assert gc.get_freeze_count() > 0
            assert not any(found is made_before for found in gc.get_objects())
    finally:
        gc.unfreeze()
