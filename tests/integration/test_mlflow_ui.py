"""The MLflow UI opens our experiment on its training runs, with the description (headless Chromium)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from mlpbench.tracking.runs import DESCRIPTION, prepare

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
        client.log_metric(run_id, "val/acc", 0.9)
        client.set_terminated(run_id, "FINISHED")
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
