"""Run the benchmarks: `python -m benchmarks [NAME ...]` (all when none is named)."""

from __future__ import annotations

import importlib
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import Figure

#: Benchmark modules in `benchmarks`, each with `run() -> list[Figure]`.
BENCHMARKS: list[str] = ["intake", "webhooks", "reports", "dialing", "personalization"]


def machine() -> str:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            names = [line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")]
        if names:
            cpu = f"{names[0]} × {len(names)}"
    except OSError:
        pass
    memory = ""
    try:
        with open("/proc/meminfo") as fh:
            kib = int(fh.readline().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{cpu}{memory}, {system}, Python {platform.python_version()}"


def write_markdown(path: Path, results: list[tuple[str, list[Figure], float]]) -> None:
    """`docs/benchmarks.md`: each figure, its target, the command, the machine."""
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m benchmarks`). Every benchmark runs the real",
        "parts: a redis-server, SQLite through SQLModel, the web and worker processes, and the",
        "sandbox provider over loopback HTTP.",
        "",
        f"- Machine: {machine()}",
        f"- Run: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        "",
        "| benchmark | figure | measured | target | met | command |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, figures, _seconds in results:
        for f in figures:
            lines.append(
                f"| {name} | {f.name} | {f.value:,.2f} {f.unit} | {f.target} | "
                f"{'yes' if f.ok else 'NO'} | `python -m benchmarks {name}` |"
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str]) -> int:
    """Run the named benchmarks (or all), print every figure, write docs/benchmarks.md.

    Exits 1 if any figure missed its target.
    """
    names = argv or BENCHMARKS
    print(f"machine: {machine()}", flush=True)
    results: list[tuple[str, list[Figure], float]] = []
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        started = time.monotonic()
        print(f"== {name}", flush=True)
        figures: list[Figure] = []
        for figure in module.run():
            print(figure.line(), flush=True)
            figures.append(figure)
        seconds = time.monotonic() - started
        print(f"   ({seconds:.1f} s)", flush=True)
        results.append((name, figures, seconds))
    if not argv:
        write_markdown(Path("docs/benchmarks.md"), results)
    return 0 if all(f.ok for _, figures, _ in results for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
