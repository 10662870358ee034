"""Jobs on Ray for the front ends (docs/scale.md): the bulk import of a folder tree.

:func:`import_tree_on_ray` runs :func:`lifelog.ingest.import_ray.import_on_ray` (the per-file
decode and encode in Ray actors, the rows written here under the write lock) and then the steps a
local import runs after its files are committed: places, the knowledge graph and descriptions of
the new episodes. When an image-text model is in use, the new frames then get its vectors from
the re-index on Ray (the pictures re-decoded from the files, ``source = media``; the local import
computes them while importing, ``source = import``). Faces and OCR are not part of the Ray import
(:data:`LOCAL_ONLY`); speech is transcribed by the transcription that follows an import.

Re-indexing on Ray is :func:`lifelog.api.models.reindex_image_text` with ``engine="ray"``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from lifelog.config import Settings
from lifelog.ingest.import_ray import JOB_LOCK, LOCAL_ONLY, RayImportResult
from lifelog.ingest.pipeline import ImportFailure, ImportProgress
from lifelog.ingest.reindex_ray import RAY_MISSING, RayUnavailable, ray_installed
from lifelog.store.db import Store
from lifelog.store.joblock import JobBusy
from lifelog.store.lock import write_lock
from lifelog.store.vault import Vault

__all__ = ["JOB_LOCK", "LOCAL_ONLY", "RAY_MISSING", "JobBusy", "RayImportResult", "RayUnavailable",
           "import_tree_on_ray", "ray_installed"]


class _MemoryLike(Protocol):
    @property
    def store(self) -> Store: ...
    @property
    def vault(self) -> Vault: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def data_dir(self) -> Path: ...
    def refresh_places(self) -> Any: ...
    def describe_episodes(self, episode_ids: list[str]) -> Any: ...


def import_tree_on_ray(
    memory: _MemoryLike,
    paths: Sequence[Path],
    *,
    address: str | None = None,
    workers: int | None = None,
    device: str | None = None,
    progress: Callable[[ImportProgress], None] | None = None,
    cancel: threading.Event | None = None,
    actor_cls: type | None = None,
) -> RayImportResult:
    """Import the media files under ``paths`` on Ray (a local Ray, or the cluster at ``address``).

    One bulk import on Ray per memory at a time (:class:`JobBusy`); :class:`RayUnavailable` when
    Ray is missing (``lifelog[scale]``) or the cluster cannot be joined."""
    from lifelog.ingest.import_ray import ImportActor, import_on_ray

    result = import_on_ray(memory.store, memory.vault, memory.settings, list(paths), address=address,
                           workers=workers, device=device, progress=progress, cancel=cancel,
                           actor_cls=actor_cls or ImportActor)
    if result.imported:
        try:  # new episodes join places (docs/places.md)
            memory.refresh_places()
        except Exception as e:
            result.warnings.append(ImportFailure(str(memory.data_dir), f"places not updated: {_words(e)}"))
        try:  # the new episodes join the graph (docs/graph.md)
            from lifelog.graph.build import build_graph

            with write_lock(memory.data_dir, wait=True):
                build_graph(memory.store, memory.vault, result.episodes)
        except Exception as e:
            result.warnings.append(ImportFailure(str(memory.data_dir), f"graph not updated: {_words(e)}"))
    if result.imported and not (cancel is not None and cancel.is_set()):
        _image_text_vectors(memory, result, address, workers, cancel)
    if result.episodes:
        try:
            memory.describe_episodes(result.episodes)
        except Exception as e:  # the nightly pass describes them
            result.warnings.append(ImportFailure(str(memory.data_dir), f"descriptions not written yet: {_words(e)}"))
    return result


def _image_text_vectors(memory: _MemoryLike, result: RayImportResult, address: str | None, workers: int | None,
                        cancel: threading.Event | None) -> None:
    """The image-text model's vectors for the new frames, by the re-index on Ray (docs/models.md)."""
    from lifelog.api.models import active_model, reindex_image_text

    try:
        if active_model(memory.data_dir) is None:  # the offline default: no such vectors to make
            result.local_only = [x for x in result.local_only if x != "image-text model vectors"]
            return
        rx = reindex_image_text(memory, engine="ray", address=address, workers=workers, cancel=cancel)
    except JobBusy:
        result.warnings.append(ImportFailure(str(memory.data_dir), "image-text vectors not added yet: a re-index "
                                             "is running (it adds them)"))
        return
    except Exception as e:
        result.warnings.append(ImportFailure(str(memory.data_dir), f"image-text vectors not added yet: {_words(e)} "
                                             "(lifelog models reindex adds them)"))
        return
    result.image_text_vectors = rx.reindexed
    if not rx.cancelled and rx.remaining == 0:
        result.local_only = [x for x in result.local_only if x != "image-text model vectors"]


def _words(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
