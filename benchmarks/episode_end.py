"""Benchmark of an episode's end with a workspace: taking the manifest (listing and
SHA-256 of every file, within code.python's caps: 200 files listed, 16 MiB hashed) and
destroying the workspace (its holder process and tmpfs), what `end_episode` adds to
every episode that held one and what `EpisodeLimits.end_episode_s` (30 s) bounds.

For each workspace shape, `--repeat` fresh bubblewrap workspaces are seeded with the
files, then ended; every manifest is checked (file count, a hash) so a broken run cannot
pass for a fast one. Prints medians in milliseconds.

    .venv/bin/python benchmarks/episode_end.py              # 9 workspaces per shape
    .venv/bin/python benchmarks/episode_end.py --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import sys
import time

from palaestra.sandbox import EpisodeWorkspace, Workspace, isolation_problem

SHAPES = [
    ("3 files of 1 KB (a solved task)", 3, 1_000),
    ("200 files of 80 KB (both caps reached: 16 MB hashed)", 200, 80_000),
    ("2,000 files of 1 KB (200 listed and hashed, all counted)", 2_000, 1_000),
]


async def end_once(files: int, size: int) -> tuple[float, float]:
    """Milliseconds of (take_manifest, aclose) for one seeded workspace."""
    episode = EpisodeWorkspace(lambda: Workspace(disk_mb=64), include=())
    content = bytes(range(256)) * (size // 256) + bytes(size % 256)
    await episode.open({f"d{i % 10}/f{i:04d}.bin": content for i in range(files)})
    start = time.perf_counter()
    manifest = episode.take_manifest()
    taken = time.perf_counter()
    await episode.aclose()
    closed = time.perf_counter()
    assert manifest is not None and manifest.total_files == files
    assert manifest.files[0].sha256 == hashlib.sha256(content).hexdigest()
    return (taken - start) * 1000, (closed - taken) * 1000


async def main(repeat: int) -> None:
    problem = isolation_problem()
    if problem:
        sys.exit(f"the kernel sandbox cannot start here: {problem}")
    print(f"episode end with a workspace: medians of {repeat} workspaces per shape")
    for label, files, size in SHAPES:
        runs = [await end_once(files, size) for _ in range(repeat)]
        manifest = statistics.median(run[0] for run in runs)
        teardown = statistics.median(run[1] for run in runs)
        print(f"{label}: manifest {manifest:.1f} ms, teardown {teardown:.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9, help="workspaces per shape")
    asyncio.run(main(parser.parse_args().repeat))
