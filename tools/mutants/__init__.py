"""``make mutants``: how many realistic bugs in the core does the property suite catch?

Each mutant of `tools.mutants.catalogue` is planted, one at a time, in a fresh temporary copy of
the repository (the working tree is only ever read), and the property suite alone
(``property_tests/``, without the slow Dask and process-pool properties unless ``--slow``) runs
against that copy with ``pytest -x``. The report is a Markdown table of which mutants were caught,
by which test, and which survived, ending with ``caught N of M (P%)``.

Run ``python -m tools.mutants --help`` for the options.
"""
