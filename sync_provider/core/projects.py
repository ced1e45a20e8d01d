"""Sync projects: create, get, list, update, delete. Each call returns a ``Response``."""

from __future__ import annotations

from typing import Any

from sync_provider.core import contract
from sync_provider.core.client import SyncClient
from sync_provider.core.errors import ProjectError
from sync_provider.core.models import Platform, Preference, Project
from sync_provider.core.predictions import _client, returns_response


@returns_response
def create_project(
    name: str,
    product_code: Platform | str,
    *,
    description: str | None = None,
    cluster_log_url: str | None = None,
    prediction_preference: Preference | str | None = None,
    client: SyncClient | None = None,
    **fields: Any,
) -> Project:
    """Create a project.

    :param name: display name.
    :param product_code: ``aws-emr`` or ``aws-databricks``.
    :param cluster_log_url: ``s3://`` (or ``dbfs:/``) folder where runs of this project keep logs.
    :param fields: other project fields (``app_id``, ``job_id``, ``cluster_path``,
        ``workspace_id``, ``prediction_params``, ``description``).
    """
    body = contract.project_body(
        {
            "name": name,
            "product_code": product_code,
            "description": description,
            "cluster_log_url": cluster_log_url,
            "prediction_preference": prediction_preference,
            **fields,
        },
        partial=False,
    )
    return Project.model_validate(_client(client).request(contract.CREATE_PROJECT, json=body))


@returns_response
def get_project(project_id: str, *, client: SyncClient | None = None) -> Project:
    """Fetch one project."""
    result = _client(client).request(contract.GET_PROJECT, path_params={"project_id": project_id})
    return Project.model_validate(result)


@returns_response
def list_projects(*, app_id: str | None = None, client: SyncClient | None = None) -> list[Project]:
    """List projects, optionally only those with ``app_id``."""
    params = [("app_id", app_id)] if app_id else []
    result = _client(client).request(contract.LIST_PROJECTS, params=params)
    if not isinstance(result, list):
        raise ProjectError("The projects endpoint returned something other than a list.")
    return [Project.model_validate(item) for item in result]


@returns_response
def update_project(project_id: str, *, client: SyncClient | None = None, **fields: Any) -> Project:
    """Change the given fields of a project; other fields keep their values."""
    body = contract.project_body(fields, partial=True)
    if not body:
        raise ProjectError("Nothing to update: give at least one field with a value.")
    result = _client(client).request(
        contract.UPDATE_PROJECT, path_params={"project_id": project_id}, json=body
    )
    return Project.model_validate(result)


@returns_response
def delete_project(project_id: str, *, client: SyncClient | None = None) -> str:
    """Delete a project; returns the API's confirmation."""
    result = _client(client).request(contract.DELETE_PROJECT, path_params={"project_id": project_id})
    return str(result)
