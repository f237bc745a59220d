"""Run every benchmark: ``python -m bench`` (or ``make bench``).

Each ``bench/*_bench.py`` module has ``main() -> None`` and prints its own
table; figures are ratios against a peer measured in the same run.
"""

import importlib
import pathlib
import sys

here = pathlib.Path(__file__).parent
wanted = sys.argv[1:]
for path in sorted(here.glob("*_bench.py")):
    name = path.stem.removesuffix("_bench")
    if wanted and name not in wanted:
        continue
    print(f"== {name}", flush=True)
    importlib.import_module(f"bench.{path.stem}").main()
