"""netpilot's benchmarks: ``netpilot bench NAME`` runs ``bench.NAME``.

Each benchmark module has ``add_arguments(parser)`` and ``run(args) -> dict`` (the result as
plain data; ``--output json`` prints it as the last stdout line). Results, with the machine
and the date, are written into docs/benchmarks.md by hand from what a run printed.
"""
