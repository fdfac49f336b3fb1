"""Where the model work of a run happens: ``serial``, ``processes:N`` or ``dask:ADDRESS``.

The unit of work is one :class:`ImageTask`: one row's maps for every pending text of one
image (cached maps travel with the task), then that row's scores. :func:`run_task` is a
pure function of the task, so a task run twice (a worker killed mid-task, retried
elsewhere) gives the same result, and a run spread over workers gives the numbers of a
serial one. The client alone owns the run folder: it reads the cache, sends tasks,
writes returned maps to the cache and rows to the journal as results come back.

Workers keep each explainer they load (a worker-side cache keyed by the source's spec),
so a model is loaded once per worker, not once per task.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..errors import DatasetError, VistaError
from ..records import SaliencyMap, Triplet

__all__ = ["Executor", "ImageResult", "ImageTask", "WorkerLostError", "make_executor",
           "run_task"]


class WorkerLostError(VistaError, RuntimeError):
    """A worker process died under a task (killed, out of memory, a crash in native
    code) and the task could not be run elsewhere."""


def stable_int(text: str) -> int:
    """The first 8 bytes of ``sha256(text)`` as a little-endian integer (a seed part)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


@dataclass
class ImageTask:
    """One row's pending triplets of one image (see the module docstring).

    ``cached[i]`` is triplet ``i``'s map from the run's cache, or None (to compute);
    ``wanted[i]`` its metrics still to score; ``other_fixations`` the other images'
    fixations in this image's pixels (for the shuffled metrics), or None.
    """

    source: Any
    image_path: str
    triplets: list[Triplet]
    cached: list[np.ndarray | None]
    humans: list[np.ndarray]
    fixations: list[np.ndarray | None]
    wanted: list[list[str]]
    seed: int
    other_fixations: np.ndarray | None = None


@dataclass
class ImageResult:
    """What a task returns: its rows, and the maps it computed (index -> values, params)."""

    task: ImageTask
    rows: list[dict[str, Any]]
    new_maps: dict[int, tuple[np.ndarray, dict[str, Any]]] = field(default_factory=dict)


_WORKER_SOURCES: dict[str, Any] = {}


def _worker_source(source: Any) -> Any:
    """The worker's loaded copy of ``source`` when it has one (keyed by ``source.key``)."""
    key = getattr(source, "key", None)
    if not isinstance(key, str):
        return source
    return _WORKER_SOURCES.setdefault(key, source)


_LAST_IMAGE: list[tuple[tuple[str, int, int], np.ndarray]] = []


def _image(path: str) -> np.ndarray:
    """The image, decoded once for the consecutive tasks (rows) of one image; keyed by
    path, size and modification time, so a changed file is read again."""
    import os

    from ..imaging import load_image

    st = os.stat(path)
    key = (path, st.st_size, st.st_mtime_ns)
    if not _LAST_IMAGE or _LAST_IMAGE[0][0] != key:
        image = load_image(path)
        image.setflags(write=False)  # shared by the rows: no source may change it
        _LAST_IMAGE[:] = [(key, image)]
    return _LAST_IMAGE[0][1]


def run_task(task: ImageTask, *, worker: bool = False) -> ImageResult:
    """Compute the task's missing maps (one call for the image's texts), then score."""
    source = _worker_source(task.source) if worker else task.source
    maps = list(task.cached)
    new: dict[int, tuple[np.ndarray, dict[str, Any]]] = {}
    missing = [i for i, m in enumerate(maps) if m is None]
    if missing:
        try:
            image = _image(task.image_path)
        except (FileNotFoundError, ValueError) as exc:
            raise DatasetError(str(exc), triplet_id=task.triplets[missing[0]].triplet_id) from None
        todo = [task.triplets[i] for i in missing]
        made = list(source.maps(image, [t.text for t in todo], todo))
        if len(made) != len(missing):
            raise RuntimeError(f"{source.name} returned {len(made)} maps for {len(missing)} texts")
        for i, m in zip(missing, made, strict=True):
            if isinstance(m, SaliencyMap):
                values, params = m.values, dict(m.params)
            else:
                values, params = np.asarray(m, dtype=np.float32), {}
            maps[i] = values
            new[i] = (values, params)
    rows = [score_map(t, source.name, np.asarray(sal, dtype=np.float32), human, fix, wanted,
                      task.seed, task.other_fixations)
            for t, sal, human, fix, wanted in zip(task.triplets, maps, task.humans,
                                                  task.fixations, task.wanted, strict=True)]
    return ImageResult(task, rows, new)


def score_map(t: Triplet, model: str, sal: np.ndarray, human: np.ndarray,
              fix: np.ndarray | None, metrics: Sequence[str], seed: int,
              other_fixations: np.ndarray | None) -> dict[str, Any]:
    """One row: each metric of ``sal`` against the triplet's human map, with the
    triplet's own random draws (seeded by seed, triplet id and metric)."""
    from ..metrics import compute, get_metric

    if sal.shape != human.shape:
        raise ValueError(f"triplet {t.triplet_id!r}: {model} map has shape {sal.shape}, the "
                         f"human map {human.shape}")
    row: dict[str, Any] = {"triplet_id": t.triplet_id, "model": model}
    caught: dict[str, list[str]] = {}
    for name in metrics:
        needs = get_metric(name).needs
        kwargs: dict[str, Any] = {}
        if needs in ("fixations", "fixations+others"):
            kwargs["fixations"] = fix
        if needs == "fixations+others":
            kwargs["other_fixations"] = (other_fixations if other_fixations is not None
                                         else np.zeros((0, 3)))
        rng = np.random.default_rng([seed, stable_int(t.triplet_id), stable_int(name)])
        with warnings.catch_warnings(record=True) as ws:
            warnings.simplefilter("always")
            try:
                value = compute(name, sal, human, rng=rng, **kwargs)
            except ValueError as exc:  # say which map it was: the run has hundreds
                raise ValueError(f"triplet {t.triplet_id!r}, model {model!r}, metric "
                                 f"{name!r}: {exc}") from exc
        if ws:
            caught[name] = sorted({str(w.message) for w in ws})
        row[name] = float(value)
    if caught:
        row["warnings"] = caught
    return row


def _describe(source: Any, worker: bool) -> dict[str, Any]:
    src = _worker_source(source) if worker else source
    return dict(src.params)


class Executor(Protocol):
    """Runs tasks: ``params(source)`` (loads the model where the work happens) and
    ``map(tasks)`` (results as they complete)."""

    def params(self, source: Any) -> dict[str, Any]: ...

    def map(self, tasks: Iterable[ImageTask]) -> Iterator[ImageResult]: ...

    def close(self) -> None: ...


class SerialExecutor:
    """Everything in this process, one task after the other, in order."""

    name = "serial"

    def params(self, source: Any) -> dict[str, Any]:
        return _describe(source, False)

    def map(self, tasks: Iterable[ImageTask]) -> Iterator[ImageResult]:
        for task in tasks:
            yield run_task(task)

    def close(self) -> None:
        pass


class _PoolExecutor:
    """Shared by the process pool and Dask: a window of tasks in flight, results in
    completion order."""

    window = 2

    def _submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def _as_completed(self, futures: list[Any]) -> Iterator[Any]:
        raise NotImplementedError

    def _window(self) -> int:
        return self.window

    def params(self, source: Any) -> dict[str, Any]:
        if not isinstance(getattr(source, "key", None), str):  # nothing to load: here
            return _describe(source, False)
        return dict(self._submit(_describe, source, True).result())

    _lost: tuple[type[BaseException], ...] = ()

    def map(self, tasks: Iterable[ImageTask]) -> Iterator[ImageResult]:
        try:
            yield from self._map(tasks)
        except self._lost as exc:
            raise WorkerLostError(
                f"a worker of --executor {getattr(self, 'name', '?')} died under a task "
                f"({type(exc).__name__}: {exc}); the rows of every finished image are kept: "
                "run the same command again to resume") from exc

    def _map(self, tasks: Iterable[ImageTask]) -> Iterator[ImageResult]:
        pending: list[Any] = []
        it = iter(tasks)
        exhausted = False
        try:
            while pending or not exhausted:
                while not exhausted and len(pending) < self._window():
                    try:
                        task = next(it)
                    except StopIteration:
                        exhausted = True
                        break
                    pending.append(self._submit(run_task, task, worker=True))
                if not pending:
                    break
                done = next(self._as_completed(pending))
                pending.remove(done)
                yield done.result()
        finally:
            for f in pending:
                f.cancel()


class ProcessExecutor(_PoolExecutor):
    """``processes:N``: N worker processes on this machine (spawned, so each loads its
    own copy of a model once)."""

    def __init__(self, n: int) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        self._lost = (BrokenProcessPool,)
        self.name = f"processes:{n}"
        self.window = 2 * n
        self.pool = ProcessPoolExecutor(max_workers=n,
                                        mp_context=multiprocessing.get_context("spawn"))

    def _submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self.pool.submit(fn, *args, **kwargs)

    def _as_completed(self, futures: list[Any]) -> Iterator[Any]:
        from concurrent.futures import as_completed

        return iter(as_completed(futures))

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor(_PoolExecutor):
    """``dask:ADDRESS``: the workers of a running Dask scheduler (``tcp://host:8786``, or
    a scheduler file ``*.json`` as dask-jobqueue and ``dask scheduler
    --scheduler-file`` write). A task whose worker dies is run again on another."""

    retries = 2

    def __init__(self, address: Any) -> None:
        from .._validation import require

        distributed = require("distributed", "cluster", "dask[distributed]")
        self._lost = (distributed.KilledWorker,)
        self.name = f"dask:{address}"
        if isinstance(address, str) and address.endswith(".json"):
            self.client = distributed.Client(scheduler_file=address)
            self._own = True
        elif isinstance(address, str):
            self.client = distributed.Client(address)
            self._own = True
        else:  # a Client, or a cluster object, given in Python
            self.client = address if hasattr(address, "submit") else distributed.Client(address)
            self._own = not hasattr(address, "submit")

    def _window(self) -> int:
        """Two tasks per worker in flight, counted as workers join (a batch system
        starts them while the run goes)."""
        return 2 * max(1, len(self.client.scheduler_info().get("workers", {})))

    def _submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self.client.submit(fn, *args, pure=False, retries=self.retries, **kwargs)

    def _as_completed(self, futures: list[Any]) -> Iterator[Any]:
        from distributed import as_completed

        return iter(as_completed(futures))

    def close(self) -> None:
        if self._own:
            self.client.close()


def parse_executor(spec: Any) -> tuple[str, Any]:
    """Check an executor spec (``serial``, ``processes:N``, ``dask:ADDRESS``) without
    starting anything; returns (kind, argument).

    Examples
    --------
    >>> parse_executor("processes:4")
    ('processes', 4)
    >>> parse_executor("dask:tcp://10.0.0.5:8786")
    ('dask', 'tcp://10.0.0.5:8786')
    """
    if spec is None or spec == "serial":
        return "serial", None
    if not isinstance(spec, str):
        if hasattr(spec, "submit") or hasattr(spec, "scheduler_address"):
            return "dask", spec
        raise TypeError(f"executor must be 'serial', 'processes:N' or 'dask:ADDRESS'; got {spec!r}")
    kind, _, arg = spec.partition(":")
    if kind == "processes":
        if not arg.isdigit() or not 1 <= int(arg) <= MAX_PROCESSES:
            raise ValueError(f"executor processes:N needs N in [1, {MAX_PROCESSES}]; got {spec!r}")
        return kind, int(arg)
    if kind == "dask" and arg.strip():
        return kind, arg
    raise ValueError(f"executor must be 'serial', 'processes:N' or 'dask:ADDRESS'; got {spec!r}")


MAX_PROCESSES = 256


def make_executor(spec: Any) -> Any:
    """The executor for a spec (see :func:`parse_executor`); Dask is imported only here,
    and only for ``dask:``."""
    kind, arg = parse_executor(spec)
    if kind == "processes":
        return ProcessExecutor(arg)
    if kind == "dask":
        return DaskExecutor(arg)
    return SerialExecutor()
