"""The MLflow UI opening on what a reader of mlpbench wants: an ``mlflow.app`` plugin (``mlflow ui --app-name mlpbench``).

MLflow 3.17's UI keeps its view choices in the browser's localStorage and has no server-side
defaults for them. This app is MLflow's own server with one change: the page it serves first runs
a script (``DEFAULT_CHOICES``) that gives a browser MLflow's choices where it has none of its own:

* ``mlflow.workflowType_v1``: "Model training". MLflow otherwise opens every experiment in "GenAI"
  mode (trace overview) unless the URL carries ``?workflowType=machine_learning``; the
  ``mlflow.experimentKind`` tag no longer decides it.
* ``experiments_page.sorting_state_v0``: the experiments list sorted by name, so ``mlpbench`` heads
  its study and report experiments (MLflow sorts by last update, which puts the studies first).
* The MLflow Assistant's side panel closed: MLflow opens it on a browser's first page, over a third
  of the runs table.
* Each experiment's runs table (``ExperimentPage-[ids]-ReactComponentState``) showing ``COLUMNS``:
  MLflow shows no metric or param until the reader picks them under "Columns".
* Each run's metrics tab (``RunPage-<run id>-model-chartUIState``) opening on ``CURVES``: train and
  val in one chart each, above the summary charts. MLflow draws one chart per metric key, in
  sections named by the key's prefix before "/" sorted by name, so ``val/acc`` came last, alone.

A choice the user makes in the UI is kept: MLflow saves its state under the same keys, and a saved
value is always returned as saved. Registered in pyproject.toml under the ``mlflow.app`` entry
points, the mechanism MLflow's own ``basic-auth`` app uses.
"""
from __future__ import annotations

import json
import os
from typing import Any

WORKFLOW_KEY, WORKFLOW = "mlflow.workflowType_v1", "machine_learning"
# Values as MLflow's useLocalStorage writes them (JSON), set when the browser has none.
FIXED: dict[str, Any] = {
    WORKFLOW_KEY: WORKFLOW,
    "experiments_page.sorting_state_v0": [{"id": "name", "desc": False}],
    "mlflow.assistant.panelOpen_v1": False,
    "mlflow.assistant.fab.autoOpenedOnFirstLoad_v1": True,
}
# Summary metrics of a training run (run.summary.summary_metrics), in the order a reader compares them.
COLUMN_METRICS = ("final/val_acc", "test/acc", "time/epoch_median_s")
COLUMNS = ["attributes.`Dataset`", *(f"metrics.`{key}`" for key in COLUMN_METRICS), "attributes.`Models`"]
# Per-epoch metrics (training.engine.EpochMetrics.as_dict): train and val on one chart per quantity.
CURVES = {"loss": ("train/loss", "val/loss"), "accuracy": ("train/acc", "val/acc")}
# MLflow sorts sections by name (its "Model metrics" and "System metrics" last): this one sorts before
# every prefix a training run logs (final, gemm, machine, memory, test, time, train, val).
CURVES_SECTION = "curves: train and val"


def _line_chart(uuid: str, section: str, keys: tuple[str, ...], name: str, deleted: bool = False) -> dict[str, Any]:
    """A line chart card as MLflow's ``RunsChartsLineCardConfig`` serialises it."""
    return {"uuid": uuid, "type": "LINE", "runsCountToCompare": 10, "metricSectionId": section, "deleted": deleted,
            "isGenerated": False, "displayName": name, "metricKey": keys[0], "selectedMetricKeys": list(keys),
            "lineSmoothness": 0, "xAxisScaleType": "linear", "scaleType": "linear", "range": {}, "xAxisKey": "step",
            "selectedXAxisMetricKey": "", "yAxisKey": "metric", "yAxisExpressions": [], "ignoreOutliers": False,
            "useGlobalXaxisKey": True, "useGlobalLineSmoothing": True}


def run_page_charts() -> dict[str, Any]:
    """A run's metrics-tab state: ``CURVES`` first; MLflow adds every other metric's chart to it.

    MLflow adds a chart for each metric key no card names as its ``metricKey``: the val keys get a
    deleted (hidden) card each, so they are drawn only beside their train key.
    """
    section = "mlpbench-curves"
    charts = [_line_chart(f"mlpbench-{name}", section, keys, f"{name}: train and val") for name, keys in CURVES.items()]
    charts += [_line_chart(f"mlpbench-{name}-{key}", section, (key,), key, deleted=True)
               for name, keys in CURVES.items() for key in keys[1:]]
    return {"isAccordionReordered": False, "autoRefreshEnabled": True,
            "globalLineChartConfig": {"xAxisKey": "step", "lineSmoothness": 0, "selectedXAxisMetricKey": ""},
            "compareRunCharts": charts,
            "compareRunSections": [{"uuid": section, "name": CURVES_SECTION, "display": True, "isReordered": False,
                                    "deleted": False, "isGenerated": False}]}


# (a pattern of localStorage keys, the value its keys take while the browser has none): MLflow's
# MLflowLocalStorage keys, version 1.1, one per experiment (or set compared) and per run and tab.
PER_KEY: list[tuple[str, Any]] = [
    (r"^MLflowLocalStorage-1\.1-ExperimentPage-\[.*\]-ReactComponentState$", {"selectedColumns": COLUMNS}),
    (r"^MLflowLocalStorage-1\.1-RunPage-[0-9a-f]+-model-chartUIState$", run_page_charts()),
]
# Run before MLflow's scripts. Keys named per experiment or run cannot be listed in advance, so the
# browser's getItem answers them with the default while nothing is saved under them.
DEFAULT_CHOICES = (
    "<script>(function(){try{var s=window.localStorage,fixed=" + json.dumps(FIXED) + ",per=" + json.dumps(PER_KEY)
    + ";for(var k in fixed)if(s.getItem(k)===null)s.setItem(k,JSON.stringify(fixed[k]));"
    "var get=Storage.prototype.getItem;Storage.prototype.getItem=function(key){var v=get.call(this,key);"
    "if(v!==null||this!==s)return v;for(var i=0;i<per.length;i++)if(new RegExp(per[i][0]).test(key))"
    "return JSON.stringify(per[i][1]);return v}}catch(e){}})()</script>")


def with_default_choice(html: bytes) -> bytes:
    """index.html with ``DEFAULT_CHOICES`` run before MLflow's scripts (first thing in ``<head>``)."""
    if DEFAULT_CHOICES.encode() in html or b"<head>" not in html:
        return html
    return html.replace(b"<head>", b"<head>" + DEFAULT_CHOICES.encode(), 1)


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
