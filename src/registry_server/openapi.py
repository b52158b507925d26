"""The OpenAPI 3.0 document of the service, built from one table of endpoints.

Paths are relative to the MLflow tracking URI (the server's ``servers`` entry carries the
prefix). GET fields are query parameters; POST, PATCH and DELETE fields a JSON body, as
the MLflow client sends them. Every error answer has the same ``Error`` shape.
"""

from __future__ import annotations

from typing import Any

__all__ = ["openapi_document"]

_S: dict[str, Any] = {"type": "string"}
_I: dict[str, Any] = {"type": "integer", "format": "int64"}
_N: dict[str, Any] = {
    "oneOf": [{"type": "number"}, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}]
}
_KV: dict[str, Any] = {
    "type": "object",
    "properties": {"key": _S, "value": _S},
    "required": ["key"],
}
_TAGS: dict[str, Any] = {"type": "array", "items": _KV}
_STRINGS: dict[str, Any] = {"type": "array", "items": _S}
_METRIC: dict[str, Any] = {
    "type": "object",
    "properties": {"key": _S, "value": _N, "timestamp": _I, "step": _I},
    "required": ["key", "value", "timestamp"],
}

# (method, path, summary, {field: schema}, required fields)
_ENDPOINTS: list[tuple[str, str, str, dict[str, Any], tuple[str, ...]]] = [
    ("post", "/registered-models/create", "Create a registered model",
     {"name": _S, "description": _S, "tags": _TAGS}, ("name",)),
    ("get", "/registered-models/get", "Get a registered model", {"name": _S}, ("name",)),
    ("patch", "/registered-models/update", "Change a registered model's description",
     {"name": _S, "description": _S}, ("name",)),
    ("post", "/registered-models/rename", "Rename a registered model",
     {"name": _S, "new_name": _S}, ("name", "new_name")),
    ("delete", "/registered-models/delete", "Delete a registered model", {"name": _S}, ("name",)),
    ("get", "/registered-models/search", "Search registered models",
     {"filter": _S, "max_results": _I, "order_by": _STRINGS, "page_token": _S}, ()),
    ("post", "/registered-models/set-tag", "Set a registered model tag",
     {"name": _S, "key": _S, "value": _S}, ("name", "key")),
    ("delete", "/registered-models/delete-tag", "Delete a registered model tag",
     {"name": _S, "key": _S}, ("name", "key")),
    ("post", "/registered-models/get-latest-versions", "The latest ready version",
     {"name": _S, "stages": _STRINGS}, ("name",)),
    ("get", "/registered-models/get-latest-versions", "The latest ready version",
     {"name": _S, "stages": _STRINGS}, ("name",)),
    ("post", "/registered-models/alias", "Point an alias at a version",
     {"name": _S, "alias": _S, "version": _S}, ("name", "alias", "version")),
    ("get", "/registered-models/alias", "The version an alias points at",
     {"name": _S, "alias": _S}, ("name", "alias")),
    ("delete", "/registered-models/alias", "Delete an alias",
     {"name": _S, "alias": _S}, ("name", "alias")),
    ("post", "/model-versions/create",
     "Create a model version (a draft; the tag modelreg.state=ready publishes it)",
     {"name": _S, "source": _S, "run_id": _S, "tags": _TAGS, "run_link": _S,
      "description": _S}, ("name",)),
    ("get", "/model-versions/get", "Get a model version", {"name": _S, "version": _S},
     ("name", "version")),
    ("patch", "/model-versions/update", "Change a model version's description",
     {"name": _S, "version": _S, "description": _S}, ("name", "version")),
    ("delete", "/model-versions/delete", "Delete a model version",
     {"name": _S, "version": _S}, ("name", "version")),
    ("get", "/model-versions/search", "Search model versions",
     {"filter": _S, "max_results": _I, "order_by": _STRINGS, "page_token": _S}, ()),
    ("post", "/model-versions/set-tag", "Set a model version tag",
     {"name": _S, "version": _S, "key": _S, "value": _S}, ("name", "version", "key")),
    ("delete", "/model-versions/delete-tag", "Delete a model version tag",
     {"name": _S, "version": _S, "key": _S}, ("name", "version", "key")),
    ("get", "/model-versions/get-download-uri", "Where a version's artifacts are",
     {"name": _S, "version": _S}, ("name", "version")),
    ("post", "/model-versions/transition-stage", "Refused: modelreg has aliases, not stages",
     {"name": _S, "version": _S, "stage": _S, "archive_existing_versions": {"type": "boolean"}},
     ("name", "version", "stage")),
    ("post", "/experiments/create", "Create an experiment",
     {"name": _S, "artifact_location": _S, "tags": _TAGS}, ("name",)),
    ("get", "/experiments/get", "Get an experiment", {"experiment_id": _S}, ("experiment_id",)),
    ("get", "/experiments/get-by-name", "Get an experiment by name",
     {"experiment_name": _S}, ("experiment_name",)),
    ("post", "/experiments/search", "Search experiments by name and tags",
     {"max_results": _I, "filter": _S, "order_by": _STRINGS, "page_token": _S, "view_type": _S},
     ()),
    ("post", "/experiments/delete", "Delete an experiment with its runs, for good",
     {"experiment_id": _S}, ("experiment_id",)),
    ("post", "/experiments/restore", "Refused: deletes are for good",
     {"experiment_id": _S}, ("experiment_id",)),
    ("post", "/experiments/update", "Rename an experiment",
     {"experiment_id": _S, "new_name": _S}, ("experiment_id",)),
    ("post", "/experiments/set-experiment-tag", "Set an experiment tag",
     {"experiment_id": _S, "key": _S, "value": _S}, ("experiment_id", "key", "value")),
    ("post", "/experiments/delete-experiment-tag", "Delete an experiment tag",
     {"experiment_id": _S, "key": _S}, ("experiment_id", "key")),
    ("post", "/runs/create", "Start a run",
     {"experiment_id": _S, "user_id": _S, "start_time": _I, "tags": _TAGS, "run_name": _S}, ()),
    ("post", "/runs/delete", "Delete a run with its metrics and files, for good",
     {"run_id": _S}, ("run_id",)),
    ("post", "/runs/restore", "Refused: deletes are for good", {"run_id": _S}, ("run_id",)),
    ("post", "/runs/search", "Search runs with MLflow's filter grammar and order_by",
     {"experiment_ids": _STRINGS, "filter": _S, "run_view_type": _S, "max_results": _I,
      "order_by": _STRINGS, "page_token": _S}, ()),
    ("post", "/runs/log-inputs", "Accepted, not stored", {"run_id": _S}, ("run_id",)),
    ("post", "/runs/outputs", "Accepted, not stored (logged models are recorded when made)",
     {"run_id": _S}, ("run_id",)),
    ("post", "/runs/log-model", "Accepted, not stored", {"run_id": _S, "model_json": _S},
     ("run_id",)),
    ("post", "/logged-models", "Create a logged model (a folder of its run)",
     {"experiment_id": _S, "name": _S, "model_type": _S, "source_run_id": _S,
      "params": _TAGS, "tags": _TAGS}, ()),
    ("get", "/logged-models/{model_id}", "Get a logged model", {"model_id": _S}, ("model_id",)),
    ("patch", "/logged-models/{model_id}", "Finalize a logged model",
     {"model_id": _S, "status": _S}, ("model_id", "status")),
    ("delete", "/logged-models/{model_id}", "Delete a logged model and its files",
     {"model_id": _S}, ("model_id",)),
    ("patch", "/logged-models/{model_id}/tags", "Set logged model tags",
     {"model_id": _S, "tags": _TAGS}, ("model_id",)),
    ("delete", "/logged-models/{model_id}/tags/{tag_key}", "Delete a logged model tag",
     {"model_id": _S, "tag_key": _S}, ("model_id", "tag_key")),
    ("post", "/logged-models/{model_id}/params", "Log logged model parameters",
     {"model_id": _S, "params": _TAGS}, ("model_id",)),
    ("get", "/runs/get", "Get a run (one of modelreg's, or the run a model version carries)",
     {"run_id": _S, "run_uuid": _S}, ()),
    ("post", "/runs/log-parameter", "Log a parameter",
     {"run_id": _S, "run_uuid": _S, "key": _S, "value": _S}, ("run_id", "key", "value")),
    ("post", "/runs/log-metric", "Log a metric point",
     {"run_id": _S, "run_uuid": _S, "key": _S, "value": _N, "timestamp": _I, "step": _I},
     ("run_id", "key", "value", "timestamp")),
    ("post", "/runs/log-batch", "Log metrics, parameters and tags",
     {"run_id": _S, "metrics": {"type": "array", "items": _METRIC}, "params": _TAGS,
      "tags": _TAGS}, ("run_id",)),
    ("post", "/runs/set-tag", "Set a tag", {"run_id": _S, "run_uuid": _S, "key": _S, "value": _S},
     ("run_id", "key", "value")),
    ("post", "/runs/delete-tag", "Delete a tag", {"run_id": _S, "key": _S}, ("run_id", "key")),
    ("post", "/runs/update",
     "Update a run; on a version's run FINISHED publishes, FAILED or KILLED fails",
     {"run_id": _S, "run_uuid": _S, "status": _S, "end_time": _I, "run_name": _S}, ("run_id",)),
    ("get", "/metrics/get-history", "A metric's history", {"run_id": _S, "metric_key": _S},
     ("run_id", "metric_key")),
    ("post", "/logged-models/search", "Search logged models by name, source run and tags",
     {"experiment_ids": _STRINGS, "filter": _S, "max_results": _I, "page_token": _S}, ()),
]  # fmt: skip

_ERROR = {"$ref": "#/components/schemas/Error"}
_ERRORS = {
    "default": {
        "description": "An MLflow error",
        "content": {"application/json": {"schema": _ERROR}},
    }
}
_OK = {
    "200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
}


def _operation(
    method: str, path: str, summary: str, fields: dict[str, Any], required: tuple[str, ...]
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {**_OK, **_ERRORS}}
    in_path = [name for name in fields if "{" + name + "}" in path]
    fields = {name: schema for name, schema in fields.items() if name not in in_path}
    required = tuple(name for name in required if name not in in_path)
    path_params = [{"name": name, "in": "path", "required": True, "schema": _S} for name in in_path]
    if method in ("get", "delete") and path_params:
        op["parameters"] = path_params
        return op
    if path_params:
        op["parameters"] = path_params
    if method == "get":
        op["parameters"] = path_params + [
            {
                "name": name,
                "in": "query",
                "required": name in required,
                "schema": schema,
                **({"style": "form", "explode": True} if schema.get("type") == "array" else {}),
            }
            for name, schema in fields.items()
        ]
    else:
        body = {"type": "object", "properties": fields, "required": list(required)}
        if not required:
            body.pop("required")
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


def _artifact_paths() -> dict[str, Any]:
    path_param = {"name": "path", "in": "path", "required": True, "schema": _S}
    return {
        "/api/2.0/mlflow-artifacts/artifacts": {
            "get": {
                "summary": "List one folder of a version's artifacts",
                "parameters": [{"name": "path", "in": "query", "required": True, "schema": _S}],
                "responses": {**_OK, **_ERRORS},
            }
        },
        "/api/2.0/mlflow-artifacts/artifacts/{path}": {
            "get": {
                "summary": "Download an artifact (streamed, verified)",
                "parameters": [path_param],
                "responses": {
                    "200": {
                        "description": "The bytes",
                        "content": {
                            "application/octet-stream": {
                                "schema": {"type": "string", "format": "binary"}
                            }
                        },
                    },
                    **_ERRORS,
                },
            },
            "put": {
                "summary": "Upload an artifact into a draft version (streamed)",
                "parameters": [path_param],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"}
                        }
                    },
                },
                "responses": {**_OK, **_ERRORS},
            },
            "delete": {
                "summary": "Delete an artifact or folder of a draft version",
                "parameters": [path_param],
                "responses": {**_OK, **_ERRORS},
            },
        },
        "/api/3.0/mlflow/server-info": {
            "get": {"summary": "What the artifact API supports", "responses": {**_OK}}
        },
    }


def openapi_document(prefix: str = "") -> dict[str, Any]:
    """The OpenAPI 3.0.3 document for a server whose tracking URI path is ``prefix``."""
    paths: dict[str, Any] = {}
    for method, path, summary, fields, required in _ENDPOINTS:
        paths.setdefault("/api/2.0/mlflow" + path, {})[method] = _operation(
            method, path, summary, fields, required
        )
    paths.update(_artifact_paths())
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "modelreg MLflow-compatible API",
            "version": "1",
            "description": "The MLflow REST calls the stock client makes, over modelreg.",
        },
        "servers": [{"url": prefix or "/"}],
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {"error_code": _S, "message": _S},
                    "required": ["error_code", "message"],
                }
            },
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{}, {"token": []}],
    }
