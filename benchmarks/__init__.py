"""Benchmarks for polyroute: overhead, throughput, streaming, memory, planning and routing quality.

Not part of the test suite. Run ``python -m benchmarks`` (``--quick`` for a smoke run); it writes
``docs/benchmarks.md``, SVG charts under ``docs/assets/benchmarks/`` and raw JSON under
``benchmarks/results/``.
"""
