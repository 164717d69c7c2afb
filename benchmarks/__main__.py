"""``python -m benchmarks``: run the benchmarks and write ``docs/benchmarks.md``."""

from benchmarks.run import main

raise SystemExit(main())
