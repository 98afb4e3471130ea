"""The MLflow UI opening on training runs: an ``mlflow.app`` plugin (``mlflow ui --app-name mlpbench``).

MLflow 3.17's UI opens every experiment in "GenAI" mode (trace overview) unless the URL carries
``?workflowType=machine_learning`` or the browser saved the user's "Model training" switch in
localStorage (``mlflow.workflowType_v1``); the ``mlflow.experimentKind`` tag no longer decides it.
This app is MLflow's own server with one change: the page it serves first stores
"machine_learning" as that saved choice when the browser has none, so a new user who opens the
experiments list and clicks an experiment lands on its Runs table. A choice the user makes in the
UI is kept. Registered in pyproject.toml under the ``mlflow.app`` entry points, the mechanism
MLflow's own ``basic-auth`` app uses.
"""
from __future__ import annotations

import os

WORKFLOW_KEY, WORKFLOW = "mlflow.workflowType_v1", "machine_learning"
# MLflow's useLocalStorage keeps JSON-encoded values.
DEFAULT_CHOICE = (f"<script>try{{if(localStorage.getItem('{WORKFLOW_KEY}')===null)"
                  f"localStorage.setItem('{WORKFLOW_KEY}','\"{WORKFLOW}\"')}}catch(e){{}}</script>")


def with_default_choice(html: bytes) -> bytes:
    """index.html with ``DEFAULT_CHOICE`` run before MLflow's scripts (first thing in ``<head>``)."""
    if DEFAULT_CHOICE.encode() in html or b"<head>" not in html:
        return html
    return html.replace(b"<head>", b"<head>" + DEFAULT_CHOICE.encode(), 1)


def create_app():
    """MLflow's server app (Flask, wrapped in FastAPI under uvicorn) serving ``with_default_choice``."""
    from flask import request
    from mlflow.server import app

    @app.after_request
    def _default_choice(response):
        # The only HTML page the server sends is the app's index.html, at / or <static prefix>/.
        if request.method == "GET" and response.status_code == 200 and response.mimetype == "text/html":
            response.direct_passthrough = False
            response.set_data(with_default_choice(response.get_data()))
        return response

    if os.environ.get("_MLFLOW_SGI_NAME") == "uvicorn":  # as mlflow.server.auth.create_app does
        from mlflow.server.fastapi_app import create_fastapi_app

        return create_fastapi_app(app)
    return app
