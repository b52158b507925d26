"""MLflow-shaped errors: every failure leaves as ``{"error_code", "message"}``.

The stock client keys on ``error_code`` (``RESOURCE_ALREADY_EXISTS`` inside
``register_model``, ``ENDPOINT_NOT_FOUND`` for the get-latest-versions fallback) and
retries 408/429/500/502/503/504 for minutes, so a caller's mistake must never be a 5xx.
`from_registry_error` is the one table from modelreg's error tree to MLflow's codes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse

from registry_core import (
    AlreadyExists,
    BackendError,
    Conflict,
    IllegalTransition,
    IntegrityError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RegistryError,
)

__all__ = ["ApiError", "error_response", "from_registry_error", "logger"]

logger = logging.getLogger("registry_server")

#: modelreg error -> (HTTP status, MLflow error code); the first matching class wins.
_TABLE: tuple[tuple[type[RegistryError], int, str], ...] = (
    (NotFound, 404, "RESOURCE_DOES_NOT_EXIST"),
    (AlreadyExists, 400, "RESOURCE_ALREADY_EXISTS"),
    (InvalidInput, 400, "INVALID_PARAMETER_VALUE"),
    (IllegalTransition, 400, "INVALID_PARAMETER_VALUE"),
    (PermissionDenied, 403, "PERMISSION_DENIED"),
    (Conflict, 409, "RESOURCE_CONFLICT"),  # 409 is not retried: the message says try again
    (IntegrityError, 500, "DATA_LOSS"),
    (BackendError, 503, "TEMPORARILY_UNAVAILABLE"),  # storage hiccup: the client retries
)


class ApiError(Exception):
    """An answer other than 200, already in MLflow's terms."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    @classmethod
    def invalid(cls, message: str) -> ApiError:
        return cls(400, "INVALID_PARAMETER_VALUE", message)

    @classmethod
    def not_found(cls, message: str) -> ApiError:
        return cls(404, "RESOURCE_DOES_NOT_EXIST", message)

    @classmethod
    def unauthenticated(cls, message: str) -> ApiError:
        return cls(401, "UNAUTHENTICATED", message)


def from_registry_error(error: RegistryError, *, anonymous: bool = False) -> ApiError:
    """The MLflow answer for a modelreg error.

    A refusal of an anonymous caller is 401 ``UNAUTHENTICATED`` rather than 403: the
    caller has not said who they are, and a token may well let them in.
    """
    if isinstance(error, PermissionDenied) and anonymous:
        return ApiError.unauthenticated(
            f"{error}; authenticate with a modelreg token (MLFLOW_TRACKING_TOKEN)"
        )
    for kind, status, code in _TABLE:
        if isinstance(error, kind):
            return ApiError(status, code, str(error))
    return ApiError(500, "INTERNAL_ERROR", str(error))


def error_response(error: ApiError, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The JSON response for ``error``; 5xx answers are logged (never with credentials)."""
    if error.status >= 500:
        logger.error("%s %s: %s", error.status, error.code, error.message)
    body: dict[str, Any] = {"error_code": error.code, "message": error.message}
    return JSONResponse(body, status_code=error.status, headers=headers)
