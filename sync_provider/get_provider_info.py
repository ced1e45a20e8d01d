"""Provider metadata, read by Airflow through the ``apache_airflow_provider`` entry point.

Airflow calls :func:`get_provider_info` while it initialises its configuration, so this module must
import nothing (least of all ``airflow``) and only return plain data.
"""

from __future__ import annotations

from typing import Any

_INTEGRATION = "Sync Computing"


def get_provider_info() -> dict[str, Any]:
    """Return the provider description Airflow validates against ``provider_info.schema.json``."""
    return {
        "package-name": "airflow-provider-sync-computing",
        "name": "Sync Computing",
        "description": (
            "`Sync Computing <https://synccomputing.com/>`__: predictions of faster or cheaper cluster "
            "configurations for Apache Spark runs on AWS EMR and Databricks."
        ),
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://docs.synccomputing.com/",
                "how-to-guide": [
                    "/docs/operators/predictions.rst",
                    "/docs/operators/emr.rst",
                    "/docs/operators/databricks.rst",
                ],
                "tags": ["service"],
            }
        ],
        "operators": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    "sync_provider.operators.sync",
                    "sync_provider.operators.emr",
                    "sync_provider.operators.databricks",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    "sync_provider.sensors.sync",
                    "sync_provider.sensors.emr",
                    "sync_provider.sensors.databricks",
                ],
            }
        ],
        "hooks": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": ["sync_provider.hooks.sync", "sync_provider.hooks.databricks"],
            }
        ],
        "triggers": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    "sync_provider.triggers.sync",
                    "sync_provider.triggers.emr",
                    "sync_provider.triggers.databricks",
                ],
            }
        ],
        "connection-types": [
            {
                "connection-type": "sync",
                "hook-class-name": "sync_provider.hooks.sync.SyncHook",
                "hook-name": "Sync Computing",
                "ui-field-behaviour": {
                    "hidden-fields": [],
                    "relabeling": {
                        "host": "API URL",
                        "schema": "Scheme (http or https)",
                        "login": "API key ID",
                        "password": "API key secret",
                    },
                    "placeholders": {
                        "host": "https://api.synccomputing.com",
                        "schema": "https",
                        "port": "443",
                        "login": "Sync API key ID",
                        "password": "Sync API key secret",
                        "description": "Sync Computing API access",
                    },
                },
                "conn-fields": {
                    "app_url": {
                        "label": "Web app URL",
                        "description": (
                            "Base URL of Sync's web application, for links to predictions. Default: "
                            "derived from the API URL (api.* becomes app.*)."
                        ),
                        "schema": {"type": ["string", "null"]},
                    },
                },
            }
        ],
        "extra-links": [
            "sync_provider.links.sync.SyncPredictionLink",
            "sync_provider.links.emr.SyncEmrClusterLink",
            "sync_provider.links.databricks.SyncDatabricksRunLink",
        ],
    }
