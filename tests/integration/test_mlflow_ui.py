"""The MLflow UI opens our experiment on its training runs, with the description (headless Chromium)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from mlpbench.tracking.runs import DESCRIPTION, prepare
from mlpbench.tracking.studies import prepare_study
from mlpbench.tracking.ui import COLUMN_METRICS, CURVES_SECTION

from support import free_port, stop

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
RUN_NAMES = ["numpy h32 relu sgd lr0.1 bs64 e1", "torch h32 relu sgd lr0.1 bs64 e1"]


def _store(tmp_path: Path) -> tuple[str, str]:
    from mlflow.tracking import MlflowClient
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment_id = prepare(uri, "mlpbench")
    assert prepare(uri, "mlpbench") == experiment_id  # idempotent
    client = MlflowClient(uri)
    for name in RUN_NAMES:
        run_id = client.create_run(experiment_id, run_name=name).info.run_id
        client.log_param(run_id, "backend", name.split()[0])
        for step in (1, 2):  # the per-epoch curves, then the summary a training run logs
            for key in ("train/loss", "val/loss", "train/acc", "val/acc", "time/epoch_s"):
                client.log_metric(run_id, key, 0.4 + 0.1 * step, step=step)
        for key, value in {"final/val_acc": 0.9123, "test/acc": 0.9177, "time/epoch_median_s": 1.25,
                           "final/train_acc": 0.95, "gemm/gflops": 12.0, "best_epoch": 2}.items():
            client.log_metric(run_id, key, value)
        client.set_terminated(run_id, "FINISHED")
    prepare_study(uri, "mlpbench-scaling", "study")  # created after mlpbench: MLflow lists it first
    return uri, experiment_id


@pytest.fixture(scope="module")
def chromium():
    """selenium's webdriver module; skips before any server starts where Chromium cannot be driven."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    for exe in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(exe):
            pytest.skip(f"{exe} is absent")
    return webdriver


@pytest.fixture(scope="module")
def server(chromium, tmp_path_factory):
    """One server for the module: the tests only read its store (each drives a browser of its own)."""
    tmp_path = tmp_path_factory.mktemp("mlflow_ui")
    uri, experiment_id = _store(tmp_path)
    port = free_port()
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    log = open(tmp_path / "server.log", "w")
    # As `make ui` starts it: MLflow's server with the project's app (mlpbench.tracking.ui).
    proc = subprocess.Popen([str(mlflow_bin), "server", "--backend-store-uri", uri, "--host", "127.0.0.1",
                             "--port", str(port), "--workers", "1", "--app-name", "mlpbench"],
                            stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
                            env={**os.environ, "MLFLOW_TRACKING_URI": uri})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # a loaded 2-core machine can take a minute to import mlflow
        while True:
            try:
                urllib.request.urlopen(f"{base}/health", timeout=1)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"mlflow server did not start: {(tmp_path / 'server.log').read_text()[-2000:]}")
                time.sleep(0.25)
        yield base, experiment_id
    finally:
        stop(proc, 10)
        log.close()


@pytest.fixture
def browser(chromium, tmp_path):
    webdriver = chromium
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'chrome'}", "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def _wait_text(driver, texts, timeout=30.0) -> str:
    deadline = time.monotonic() + timeout
    body = ""
    while time.monotonic() < deadline:
        body = driver.find_element("tag name", "body").text
        if all(t in body for t in texts):
            return body
        time.sleep(0.5)
    return body


def test_link_lands_on_training_runs(server, browser, tmp_path):
    base, experiment_id = server
    shots = Path(os.environ.get("MLPBENCH_SHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    # The experiments list, as `make ui` prints it; the click on the experiment follows.
    browser.get(f"{base}/#/experiments?workflowType=machine_learning")
    _wait_text(browser, ["mlpbench"])
    browser.save_screenshot(str(shots / "experiments_list.png"))
    browser.get(f"{base}/#/experiments/{experiment_id}?workflowType=machine_learning")
    body = _wait_text(browser, RUN_NAMES)
    browser.save_screenshot(str(shots / "landing.png"))
    assert all(name in body for name in RUN_NAMES), body[:2000]
    assert "matching runs" in body and "No data available" not in body, body[:2000]  # not the GenAI overview
    first_line = DESCRIPTION.splitlines()[0][:30]
    if first_line not in body:
        for el in browser.find_elements("xpath", "//*[contains(text(),'Description') or contains(text(),'About')]"):
            try:
                el.click()
                break
            except Exception:
                continue
        body = _wait_text(browser, [first_line], timeout=10)
    browser.save_screenshot(str(shots / "description.png"))
    assert first_line in body, body[:2000]


def test_new_browser_from_the_experiments_list_lands_on_training_runs(server, browser, tmp_path):
    """A browser with no saved choice opens the server's root, clicks the experiment: the Runs table.

    MLflow 3.17 alone would open the GenAI overview here; the project's app stores "Model
    training" as the default choice.
    """
    base, experiment_id = server
    shots = Path(os.environ.get("MLPBENCH_SHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    browser.get(f"{base}/")
    _wait_text(browser, ["mlpbench"])
    browser.find_element("link text", "mlpbench").click()
    body = _wait_text(browser, RUN_NAMES)
    browser.save_screenshot(str(shots / "list_click_new_browser.png"))
    assert all(name in body for name in RUN_NAMES), body[:2000]
    assert "matching runs" in body and "No data available" not in body, body[:2000]
    assert f"/experiments/{experiment_id}" in browser.current_url


def test_a_choice_made_in_the_ui_is_kept(server, browser):
    """The default is set only when the browser has none: a user who picked GenAI keeps it."""
    base, experiment_id = server
    browser.get(f"{base}/")
    _wait_text(browser, ["mlpbench"])
    browser.execute_script("localStorage.setItem('mlflow.workflowType_v1', JSON.stringify('genai'))")
    browser.get(f"{base}/#/experiments/{experiment_id}")
    browser.refresh()
    _wait_text(browser, ["mlpbench"])
    time.sleep(2)
    assert browser.execute_script("return localStorage.getItem('mlflow.workflowType_v1')") == '"genai"'


def _header(driver, timeout=30.0) -> str:
    """The runs table's header row, once MLflow has drawn the runs."""
    _wait_text(driver, RUN_NAMES, timeout)
    time.sleep(1)
    return " ".join(el.text for el in driver.find_elements("css selector", "[role=columnheader]"))


def test_runs_table_shows_accuracy_and_epoch_time_by_default(server, browser, tmp_path):
    base, experiment_id = server
    browser.set_window_size(2400, 1000)  # the grid draws only the columns in view
    browser.get(f"{base}/#/experiments/{experiment_id}/runs")
    header = _header(browser)
    browser.save_screenshot(str(Path(os.environ.get("MLPBENCH_SHOTS", tmp_path)) / "runs_columns.png"))
    assert all(key in header for key in COLUMN_METRICS), header
    assert "0.9123" in browser.find_element("tag name", "body").text


def test_a_column_choice_made_in_the_ui_is_kept(server, browser):
    """A browser that saved its own columns (here: none) sees them, not the default."""
    base, experiment_id = server
    browser.get(f"{base}/")
    _wait_text(browser, ["mlpbench"])
    key = f'MLflowLocalStorage-1.1-ExperimentPage-["{experiment_id}"]-ReactComponentState'
    browser.execute_script("localStorage.setItem(arguments[0], JSON.stringify({selectedColumns: []}))", key)
    browser.get(f"{base}/#/experiments/{experiment_id}/runs")
    header = _header(browser)
    assert not any(k in header for k in COLUMN_METRICS), header
    assert browser.execute_script("return JSON.parse(localStorage.getItem(arguments[0])).selectedColumns", key) == []


def test_run_metrics_tab_opens_on_train_and_val_curves(server, browser, tmp_path):
    """The first section holds train and val together, one chart per quantity; the summaries follow."""
    base, experiment_id = server
    browser.set_window_size(1400, 3000)  # MLflow draws only the sections in view
    browser.get(f"{base}/#/experiments/{experiment_id}/runs")
    _wait_text(browser, RUN_NAMES)
    href = browser.find_element("partial link text", RUN_NAMES[0][:12]).get_attribute("href")
    browser.get(href.split("?")[0].rstrip("/") + "/model-metrics")
    body = _wait_text(browser, [CURVES_SECTION, "final"])
    time.sleep(2)
    browser.save_screenshot(str(Path(os.environ.get("MLPBENCH_SHOTS", tmp_path)) / "run_metrics.png"))
    sections = re.findall(r"^(.+?)\s*\(\d+\)$", re.sub(r"\n\(", " (", body), flags=re.M)
    assert sections[:2] == [CURVES_SECTION, "final"] and "val" not in sections, sections
    curves = body[body.index(CURVES_SECTION):body.index("final")]
    assert "train/loss vs val/loss" in curves and "train/acc vs val/acc" in curves, body[:2000]


def test_experiments_list_puts_mlpbench_first(server, browser):
    base, _ = server
    browser.get(f"{base}/#/experiments")
    _wait_text(browser, ["mlpbench-scaling"])
    names = [el.text for el in browser.find_elements("css selector", "a[href*='/experiments/']") if el.text]
    assert names[:2] == ["mlpbench", "mlpbench-scaling"], names
    assert "Default" not in browser.find_element("tag name", "body").text
