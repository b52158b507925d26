"""modelreg's MLflow-compatible HTTP service: `create_app` over any `Registry`.

The stock ``mlflow`` client drives it with ``MlflowClient(tracking_uri=U, registry_uri=U)``
where ``U`` is the server's base URL plus its optional prefix; ``modelreg serve`` runs it
with uvicorn. Needs the ``server`` extra (``pip install 'modelreg[server]'``).
"""

from registry_server.app import DEFAULT_MAX_BODY_BYTES, create_app

__all__ = ["DEFAULT_MAX_BODY_BYTES", "create_app"]
