"""Sphinx configuration for airflow-provider-sync-computing."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# autodoc imports the Airflow modules; keep Airflow from creating ~/airflow on the build machine.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="sync-provider-docs-airflow-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from sync_provider import __version__  # noqa: E402

project = "airflow-provider-sync-computing"
author = "airflow-provider-sync-computing developers"
release = version = __version__
copyright = "2026, the airflow-provider-sync-computing developers"  # noqa: A001

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx.ext.intersphinx",
]
autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
# Sphinx fails offline (-W) when intersphinx has a mapping; CI machines have no internet.
intersphinx_mapping = (
    {"python": ("https://docs.python.org/3", None)} if os.environ.get("SPHINX_INTERSPHINX") == "1" else {}
)
nitpicky = False
html_theme = "furo"
html_title = "Sync Computing provider for Apache Airflow"
html_static_path = ["_static"]
exclude_patterns = ["_build"]
suppress_warnings = ["ref.python"]


# Sphinx's autodoc copies the class-body annotations of pydantic's own source into
# ``BaseModel.__annotations__`` when it documents a model's attributes; every pydantic model defined
# afterwards (Airflow's, when a later page imports Airflow) then fails to build. Undo it each time.
import pydantic  # noqa: E402

_BASEMODEL_ANNOTATIONS = dict(pydantic.BaseModel.__dict__.get("__annotations__", {}))


def _restore_basemodel_annotations(*_: object) -> None:
    pydantic.BaseModel.__annotations__ = dict(_BASEMODEL_ANNOTATIONS)


def setup(app: object) -> None:
    """Register the pydantic annotation guard."""
    app.connect("autodoc-process-docstring", _restore_basemodel_annotations)  # type: ignore[attr-defined]
