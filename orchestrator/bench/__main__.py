"""Run the benchmarks: `python -m orchestrator.bench [NAME ...]` (all when none is named)."""

from __future__ import annotations

import importlib
import platform
import sys
import time

from orchestrator.bench import Figure

#: Benchmark modules in `orchestrator.bench`, each with `run() -> list[Figure]`.
BENCHMARKS: list[str] = []


def main(argv: list[str]) -> int:
    """Run the named benchmarks (or all), print every figure, exit 1 if any missed its target."""
    names = argv or BENCHMARKS
    print(
        f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, "
        f"python {platform.python_version()}"
    )
    figures: list[Figure] = []
    for name in names:
        module = importlib.import_module(f"orchestrator.bench.{name}")
        started = time.monotonic()
        print(f"== {name}", flush=True)
        for figure in module.run():
            print(figure.line(), flush=True)
            figures.append(figure)
        print(f"   ({time.monotonic() - started:.1f} s)", flush=True)
    return 0 if all(f.ok for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
