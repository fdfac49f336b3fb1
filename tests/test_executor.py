"""The executor seam of vista score: serial, processes:N and Dask give byte-identical
outputs; workers load a model once; a worker killed mid-run loses nothing."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from test_scoring import _small_dataset

from vista.records import SaliencyMap, Triplet
from vista.scoring import demo_dataset_path, score
from vista.scoring.executor import parse_executor

METRICS = ["nss", "auc_shuffled", "sim"]
_LOADS: dict[str, int] = {}


class LoadedStub:
    """A picklable stand-in for an explainer: loaded once per process (counted), its map
    is a smooth function of the image and text, and records the worker that made it."""

    cacheable = True

    def __init__(self, name: str = "stub", delay: float = 0.0) -> None:
        self.name = name
        self.delay = delay

    @property
    def key(self) -> str:
        return f"stub:{self.name}"

    def load(self) -> None:
        _LOADS[self.key] = _LOADS.get(self.key, 0) + 1

    @property
    def params(self) -> dict[str, Any]:
        return {"kind": "explainer", "model": self.name, "model_id": "stub", "revision": None,
                "recipe": None, "method": "blur", "options": {}}

    def maps(self, image: np.ndarray, texts: Sequence[str], triplets: Sequence[Triplet]
             ) -> list[SaliencyMap]:
        if self.key not in _LOADS:
            self.load()
        time.sleep(self.delay)
        base = image.astype(np.float64).mean(axis=2) + 1.0
        return [SaliencyMap((base * (1 + len(t))).astype(np.float32), self.name, "blur",
                            {"pid": os.getpid(), "loads": _LOADS[self.key]}) for t in texts]


def _outputs(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in ("scores.csv", "summary.json",
                                                          "summary.md")}


def _run(data: Path, out: Path, executor: Any, models: list[Any] | None = None,
         **kwargs: Any) -> Any:
    return score(data, models or [LoadedStub(), "center", "uniform"], metrics=METRICS,
                 out=out, n_boot=50, executor=executor, **kwargs)


@pytest.mark.parametrize("spec, kind, arg", [
    pytest.param("serial", "serial", None, id="serial"),
    pytest.param("processes:3", "processes", 3, id="processes"),
    pytest.param("dask:tcp://127.0.0.1:8786", "dask", "tcp://127.0.0.1:8786", id="dask"),
    pytest.param("dask:/shared/scheduler.json", "dask", "/shared/scheduler.json", id="file"),
])
def test_parse_executor(spec: str, kind: str, arg: Any) -> None:
    assert parse_executor(spec) == (kind, arg)


@pytest.mark.parametrize("spec", ["threads:2", "processes:0", "processes:x", "dask:", "dask"])
def test_bad_executor(spec: str) -> None:
    with pytest.raises(ValueError, match="executor"):
        parse_executor(spec)


def test_processes_match_serial(tmp_path: Path) -> None:
    """processes:2 on the demo dataset (baselines and a cached stub model) writes the
    same bytes as a serial run; a rerun reads every stub map from the cache."""
    serial = _run(demo_dataset_path(), tmp_path / "serial", "serial")
    pooled = _run(demo_dataset_path(), tmp_path / "pooled", "processes:2")
    assert _outputs(tmp_path / "serial") == _outputs(tmp_path / "pooled")
    assert repr(serial.rows) == repr(pooled.rows)
    n_maps = len(list((tmp_path / "pooled" / "maps" / "stub").glob("*.npy")))
    assert n_maps == len(serial.rows) // 3
    again = score(demo_dataset_path(), [NoModel(), "center", "uniform"], out=tmp_path / "pooled",
                  metrics=[*METRICS, "kld"], n_boot=50, executor="processes:2")
    assert all("kld" in r for r in again.rows)


class NoModel(LoadedStub):
    """The stub's row, with no model: every map must come from the run's cache."""

    def maps(self, image: np.ndarray, texts: Sequence[str], triplets: Sequence[Triplet]
             ) -> list[SaliencyMap]:
        raise AssertionError("a cached map was computed again")


class DiesOnSecondImage(LoadedStub):
    """A row whose worker process dies (as if killed) on the second image it explains."""

    def maps(self, image: np.ndarray, texts: Sequence[str], triplets: Sequence[Triplet]
             ) -> list[SaliencyMap]:
        _LOADS["calls"] = _LOADS.get("calls", 0) + 1
        if _LOADS["calls"] == 2:
            os._exit(9)
        return super().maps(image, texts, triplets)


def test_dead_process_worker_is_one_line_and_resumable(tmp_path: Path) -> None:
    """processes:1 whose worker dies: a WorkerLostError (a user-facing error, not a
    bug) saying the finished images are kept; the same run then resumes serially."""
    from vista.scoring.executor import WorkerLostError

    data = _small_dataset(tmp_path)
    out = tmp_path / "run"
    with pytest.raises(WorkerLostError, match="run the same command again to resume"):
        score(data, [DiesOnSecondImage()], out=out, n_boot=20, executor="processes:1")
    kept = (out / "scores.partial.jsonl").read_text().splitlines()
    assert len(kept) == 2  # the first image's two triplets
    score(data, [LoadedStub()], out=out, n_boot=20)
    score(data, [LoadedStub()], out=tmp_path / "whole", n_boot=20)
    assert (out / "scores.csv").read_bytes() == (tmp_path / "whole" / "scores.csv").read_bytes()


def _pids_and_loads(out: Path) -> list[tuple[int, int]]:
    import json

    return [(m["params"]["pid"], m["params"]["loads"]) for m in
            (json.loads(p.read_text()) for p in (out / "maps" / "stub").glob("*.json"))]


def test_dask_threads_and_processes_match_serial(tmp_path: Path) -> None:
    """A Dask LocalCluster with worker processes gives the serial bytes, and each worker
    loads the model once however many images it explains."""
    distributed = pytest.importorskip("distributed", reason="the cluster extra is not installed")
    data = _small_dataset(tmp_path)
    _run(data, tmp_path / "serial", "serial")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        _run(data, tmp_path / "dask", client)
        workers = set(client.run(os.getpid).values())
    assert _outputs(tmp_path / "serial") == _outputs(tmp_path / "dask")
    made = _pids_and_loads(tmp_path / "dask")
    assert {pid for pid, _ in made} <= workers and os.getpid() not in {p for p, _ in made}
    assert all(loads == 1 for _, loads in made)


def test_dask_address_through_the_cli(tmp_path: Path) -> None:
    """`vista score --executor dask:ADDRESS` against a running scheduler (threads)."""
    distributed = pytest.importorskip("distributed", reason="the cluster extra is not installed")
    from vista.cli import cli

    data = _small_dataset(tmp_path)
    base = ["score", "--model", "center", "--data", str(data), "--bootstrap", "30",
            "--metric", "nss"]
    assert CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "a")]).exit_code == 0
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None, scheduler_port=0) as cluster:
        res = CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "b"), "--executor",
                                       f"dask:{cluster.scheduler_address}"])
    assert res.exit_code == 0, res.output
    assert _outputs(tmp_path / "a") == _outputs(tmp_path / "b")


@pytest.mark.slow
def test_killed_worker_loses_nothing(tmp_path: Path) -> None:
    """SIGKILL of a Dask worker process while it explains an image: its task runs again
    on the other worker, and the outputs equal a serial run's."""
    distributed = pytest.importorskip("distributed", reason="the cluster extra is not installed")
    data = _small_dataset(tmp_path)
    models = [LoadedStub(delay=0.4), "center"]
    _run(data, tmp_path / "serial", "serial", models=[LoadedStub(), "center"])
    killed: list[int] = []
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        pids = client.run(os.getpid)

        def progress(done: int, total: int) -> None:
            if done >= 1 and not killed:
                busy = [w for w, tasks in client.processing().items() if tasks]
                if busy:
                    killed.append(pids[busy[0]])
                    os.kill(pids[busy[0]], signal.SIGKILL)

        _run(data, tmp_path / "dask", client, models=models, progress=progress)
    assert killed, "no worker was busy when the first row came back"
    assert _outputs(tmp_path / "serial") == _outputs(tmp_path / "dask")


def test_serial_run_imports_no_dask() -> None:
    """Dask is imported only for dask:ADDRESS."""
    import subprocess
    import sys

    code = ("import sys, vista.scoring as s; s.score(s.demo_dataset_path(), ['center'], "
            "n_boot=20, executor='serial'); "
            "print(sorted(m for m in ('dask', 'distributed') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.slow
@pytest.mark.explain
def test_tiny_blip_on_dask_worker_processes(tmp_path: Path) -> None:
    """A tiny random BLIP-ITM saved to a folder, scored through --weights ROW=DIR on a
    Dask LocalCluster with worker processes: the same bytes as a serial run, its maps
    made on the workers (the client never loads the model)."""
    pytest.importorskip("torch", reason="the explain extra (torch) is not installed")
    pytest.importorskip("transformers", reason="the explain extra is not installed")
    distributed = pytest.importorskip("distributed", reason="the cluster extra is not installed")
    import sys

    from explain_fixtures import blip_folder

    weights = {"blip-itm-base": str(blip_folder(tmp_path / "blip"))}
    models = ["blip-itm-base", "center"]
    kwargs = {"weights": weights, "device": "cpu", "n_boot": 30, "metrics": ["nss"]}
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        loaded_before = "vista.explain.blip" in sys.modules
        score(demo_dataset_path(), models, out=tmp_path / "dask", executor=client, **kwargs)
        assert ("vista.explain.blip" in sys.modules) == loaded_before
    score(demo_dataset_path(), models, out=tmp_path / "serial", **kwargs)
    assert _outputs(tmp_path / "serial") == _outputs(tmp_path / "dask")
    assert len(list((tmp_path / "dask" / "maps" / "blip-itm-base").glob("*.npy"))) == 24
