"""What the config loader's limits cost, and how fast it refuses hostile files.

```
python benchmarks/config_loader.py [--jobs N] [--comments-mib M] [--repeat R]
```

1. Hostile files, each refused: the issue's alias bomb (nine levels of nine aliases,
   387 million nodes expanded), 1,000 levels of nesting, 50 MB of comments (a sparse
   file: the size is checked before reading). Time to the error and peak memory
   (tracemalloc) of the refusal.
2. Files that are fine: `--comments-mib` MiB of comments, and an experiment of `--jobs`
   jobs (about 10 nodes each). `palaestra._safe_yaml.load_yaml` (libyaml's parser, a
   Python composer checking every node, the line map) against PyYAML's `safe_load`
   (pure Python, what palaestra used before) and `CSafeLoader` (libyaml for everything,
   no limits, no lines).

Medians of `--repeat` runs; ratios against the baselines.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from palaestra._safe_yaml import load_yaml, load_yaml_file
from palaestra.core import ConfigError


def _bomb() -> str:
    lines = ["a0: &a0 [" + ", ".join(["lol"] * 9) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    return "\n".join(lines) + "\n"


def _experiment(jobs: int) -> str:
    out = ["name: big", "seed: 0", "models:", "  m: {spec: scripted, replies: [hi]}", "jobs:"]
    for i in range(jobs):
        out += [
            "  - env: graph.coloring",
            f"    label: job-{i}",
            f"    params: {{family: ws, n: {4 + i % 8}}}",
            f"    tasks: [t{i}a, t{i}b]",
            "    seeds: [0, 1, 2]",
            "    operator: {kind: llm, model: m}",
        ]
    return "\n".join(out) + "\n"


def _count_nodes(text: str) -> int:
    count, stack = 0, [yaml.compose(text, Loader=yaml.CSafeLoader)]
    while stack:
        node = stack.pop()
        count += 1
        if isinstance(node, yaml.MappingNode):
            stack += [part for pair in node.value for part in pair]
        elif isinstance(node, yaml.SequenceNode):
            stack += node.value
    return count


def _time(fn: Callable[[], Any], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def _refused(fn: Callable[[], Any], repeat: int) -> tuple[float, int, str]:
    def attempt() -> str:
        try:
            fn()
        except ConfigError as exc:
            return str(exc)
        raise SystemExit("accepted a hostile file")

    took = _time(attempt, repeat)
    tracemalloc.start()
    message = attempt()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return took, peak, message


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2_000)
    parser.add_argument("--comments-mib", type=float, default=4.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        big = Path(folder) / "comments.yaml"
        with big.open("wb") as handle:
            handle.write(b"name: x\n# padding\n")
            handle.truncate(50 * 2**20)
        hostile: dict[str, Callable[[], Any]] = {
            "alias bomb 9x9": lambda: load_yaml(_bomb()),
            "nesting 1,000": lambda: load_yaml("x: " + "[" * 1000 + "]" * 1000 + "\n"),
            "50 MB of comments": lambda: load_yaml_file(big, what="experiment file"),
        }
        for name, fn in hostile.items():
            took, peak, message = _refused(fn, args.repeat)
            print(
                f"refused {name}: {took * 1e3:.2f} ms, peak {peak / 1e6:.2f} MB "
                f"({message.split(': ', 1)[1][:60]}...)"
            )

    line = "# " + "x" * 77 + "\n"
    comments = "name: x\n" + line * int(args.comments_mib * 2**20 / len(line))
    experiment = _experiment(args.jobs)
    nodes = _count_nodes(experiment)
    files = {
        f"{args.comments_mib:g} MiB of comments": comments,
        f"experiment of {args.jobs:,} jobs (~{nodes:,} nodes, {len(experiment) / 1e6:.1f} MB)": (
            experiment
        ),
    }
    for name, text in files.items():
        assert load_yaml(text)[0] == yaml.load(text, Loader=yaml.CSafeLoader)
        ours = _time(lambda t=text: load_yaml(t), args.repeat)  # type: ignore[misc]
        pure = _time(lambda t=text: yaml.safe_load(t), args.repeat)  # type: ignore[misc]
        libyaml = _time(lambda t=text: yaml.load(t, Loader=yaml.CSafeLoader), args.repeat)  # type: ignore[misc]
        print(
            f"{name}: load_yaml {ours * 1e3:.1f} ms, ratio {ours / pure:.2f} x safe_load "
            f"({pure * 1e3:.1f} ms), {ours / libyaml:.2f} x CSafeLoader ({libyaml * 1e3:.1f} ms)"
        )


if __name__ == "__main__":
    main()
