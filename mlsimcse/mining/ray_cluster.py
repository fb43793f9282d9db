"""The Ray cluster a ``mine --engine ray`` run works on: how wide it runs, joining or starting the cluster,
and refusing up front a cluster too small for the workers asked for.

Kept apart from the stages (:mod:`mlsimcse.mining.ray_engine`), which only need a session that can hold
their workers; Ray itself is an optional extra, imported only by :func:`require_ray`.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Iterator

from mlsimcse.errors import InputError

OBJECT_STORE_BYTES = 256 * 2 ** 20
"""Object store of a cluster this engine starts itself: only paths and shard lists travel through it."""


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide to run: the cluster, how many workers, and each worker's CPUs and GPUs.

    ``address`` is ``None`` to start a local cluster for the run (or use the one this process already
    joined), ``"auto"`` for the cluster of this machine, or ``ray://host:10001``. ``num_workers`` is both
    the number of embedding actors (model copies) and the number of search parts.
    """

    address: str | None = None
    num_workers: int = 2
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    progress: bool = True

    def __post_init__(self) -> None:
        if self.num_workers < 1:
            raise InputError(f"--num-workers must be at least 1, got {self.num_workers}")
        if self.cpus_per_worker <= 0:
            raise InputError(f"--cpus-per-worker must be positive, got {self.cpus_per_worker}")
        if self.gpus_per_worker < 0:
            raise InputError(f"--gpus-per-worker must be at least 0, got {self.gpus_per_worker}")

    def resources(self) -> dict[str, float]:
        return {"num_cpus": self.cpus_per_worker, "num_gpus": self.gpus_per_worker}

    def threads_per_worker(self) -> int:
        """The torch threads each worker computes on: its whole CPUs, at least one."""
        return max(1, int(self.cpus_per_worker))


def require_ray():
    """The ``ray`` module, or a clear error on a machine without the optional extra."""
    try:
        import ray
    except ImportError:
        raise InputError('--engine ray needs Ray, an optional extra: pip install -e ".[ray]" '
                         '(or pip install "ray>=2.40")') from None
    return ray


@contextlib.contextmanager
def ray_session(ray, cluster: RayOptions) -> Iterator[None]:
    """Join the cluster the options name (or keep the one already joined) and check it can hold the workers."""
    started_here = not ray.is_initialized()
    if started_here and cluster.address:
        ray.init(address=cluster.address)
    elif started_here:
        needed = cluster.num_workers * cluster.cpus_per_worker
        ray.init(num_cpus=max(os.cpu_count() or 1, int(needed + 0.999)), include_dashboard=False,
                 object_store_memory=OBJECT_STORE_BYTES)
    try:
        _check_room(ray.cluster_resources(), cluster)
        yield
    finally:
        if started_here:
            ray.shutdown()


def _check_room(available: dict[str, float], cluster: RayOptions) -> None:
    """Refuse up front what would otherwise wait forever for workers that never fit."""
    for resource, per_worker in (("CPU", cluster.cpus_per_worker), ("GPU", cluster.gpus_per_worker)):
        needed = cluster.num_workers * per_worker
        if needed > available.get(resource, 0.0) + 1e-9:
            raise InputError(f"the Ray cluster has {available.get(resource, 0.0):g} {resource}s but "
                             f"{cluster.num_workers} workers x {per_worker:g} need {needed:g}: "
                             "use fewer --num-workers or a bigger cluster")
