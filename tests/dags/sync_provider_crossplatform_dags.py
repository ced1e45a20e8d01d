"""Runs the packaged cross-platform example DAG's source as part of the Airflow test dags folder
(tests/dags).

``dag.test()`` only runs DAGs the dags-folder bundle has parsed, and a DAG belongs to the file that
created it; importing the example module would leave it outside the bundle. Executing the same
source here keeps the example itself as the single copy (see ``sync_provider_example_dag.py``).
"""

from __future__ import annotations

from pathlib import Path

import sync_provider.example_dags.example_sync_cross_platform as _example

exec(compile(Path(_example.__file__).read_text(), __file__, "exec"))  # noqa: S102 - our own example file
