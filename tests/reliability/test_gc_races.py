"""gc racing saves of the same bytes, and deletes racing saves (issue 8, P3).

Savers store a few contents over and over (so nearly every save finds its blob already
stored), a deleter deletes acknowledged artifacts (each the last user of its blob now and
then), and a collector runs ``satchel gc`` with no grace period in a loop, all at once,
through two separately opened stores (as two processes would). Afterwards every
acknowledged artifact not deleted reads back with its own bytes (a save may be refused,
with ``BlobCollectedError``, or with ENOENT when the collection took its temporary file:
no grace period at all spares no write in flight), ``fsck --read-data`` finds
no damage, and a last collection leaves the store without a warning.
"""

from __future__ import annotations

import errno
import os
import random
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest

from satchel.config import Settings
from satchel.errors import BlobCollectedError, ConflictError, StorageError
from satchel.fsck import fsck
from satchel.gc import collect_garbage
from satchel.store import ArtifactStore
from storekit import file_write

SECONDS = 4.0
CONTENTS = [os.urandom(40_000) for _ in range(12)]  # past the inline limit: blobs


@pytest.fixture(params=["local", "s3+postgres"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Race:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.live: dict[str, bytes] = {}
        self.acknowledged = 0
        self.refused = 0
        self.deleted = 0
        self.collected = 0
        self.errors: list[BaseException] = []
        self.stop = threading.Event()

    def loop(self, step: Callable[[random.Random], None], seed: int) -> None:
        rng = random.Random(seed)
        try:
            while not self.stop.is_set():
                step(rng)
        except BaseException as exc:
            self.errors.append(exc)


def test_gc_and_deletes_racing_saves_lose_no_acknowledged_artifact(settings: Settings) -> None:
    savers = ArtifactStore.open(settings)
    collector = ArtifactStore.open(settings)
    race = Race()

    def save(rng: random.Random) -> None:
        data = rng.choice(CONTENTS)
        artifact, write = file_write(data)
        try:
            savers.put_bytes(data)
            savers.commit(write)
        except (BlobCollectedError, StorageError) as exc:
            # Refused, loudly: the blob was collected before the commit, or (no grace
            # period at all) the temporary file being written was removed as a leftover.
            if isinstance(exc, StorageError) and exc.errno != errno.ENOENT:
                raise
            with race.lock:
                race.refused += 1
            return
        with race.lock:
            race.acknowledged += 1
            race.live[artifact.artifact_id] = data

    def delete(rng: random.Random) -> None:
        with race.lock:
            victim = rng.choice(sorted(race.live)) if len(race.live) > 2 else None
            if victim is not None:
                del race.live[victim]
        if victim is None:
            time.sleep(0.005)
            return
        removed = collector.delete_artifact(victim)  # its blob too, when it was the last
        with race.lock:
            race.deleted += 1
            race.collected += len(removed)

    def collect(_: random.Random) -> None:
        try:
            report = collect_garbage(collector, grace=timedelta(0))
        except ConflictError:  # a delete of the same artifact won: not this test's point
            return
        with race.lock:
            race.collected += report.blobs_removed

    threads = [threading.Thread(target=race.loop, args=(save, n)) for n in range(3)] + [
        threading.Thread(target=race.loop, args=(delete, 10)),
        threading.Thread(target=race.loop, args=(delete, 12)),
        threading.Thread(target=race.loop, args=(collect, 11)),
    ]
    try:
        for thread in threads:
            thread.start()
        time.sleep(SECONDS)
        race.stop.set()
        for thread in threads:
            thread.join(timeout=120)
        assert not race.errors, race.errors
        # The race happened: saves acknowledged, artifacts deleted, blobs collected.
        assert race.acknowledged > 20 and race.deleted > 5 and race.collected > 0, vars(race)
        for artifact_id, data in race.live.items():
            artifact = savers.get(artifact_id)
            assert artifact is not None, artifact_id
            assert savers.read_file(artifact.files[0], what=artifact_id) == data
        report = fsck(collector, read_data=True)
        assert report.ok, report.damage
        collect_garbage(collector, grace=timedelta(0))
        final = fsck(collector, read_data=True)
        assert final.ok and final.warnings == [], final.warnings
        assert final.artifacts == len(race.live)
    finally:
        race.stop.set()
        savers.close()
        collector.close()
