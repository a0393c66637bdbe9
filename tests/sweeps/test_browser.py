"""The report and the MLflow UI, opened in headless Chromium (selenium).

One small sweep is run for the module while ``sweeps ui`` boots beside it; the report page
must render every plot without a JavaScript error, offline, and the MLflow UI must show the
study's experiment, its parent run, its trial runs and the report logged as an artifact.
Screenshots go to each test's ``tmp_path`` and to /tmp/sweeps-screenshots/.

Needs the Debian packages ``chromium`` and ``chromium-driver``; skipped without them.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlflow import MlflowClient

from sweeps.cli import main
from sweeps.store import load_existing, resolve_store

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SHOTS = Path("/tmp/sweeps-screenshots")
STUDY = "browser"
PROJECT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
        reason="headless Chromium not installed (apt-get install -y chromium chromium-driver)",
    ),
    pytest.mark.timeout(300),
]

# Requests the MLflow UI makes on every page that a server without auth answers with 404.
MLFLOW_UI_NOISE = (
    "/ajax-api/2.0/mlflow/users/current",
    # the runs table relaying itself out once its Dataset column fills (a benign warning
    # of the browser's ResizeObserver, logged by MLflow's bundle)
    "ResizeObserver loop completed with undelivered notifications",
)

SPACE = {
    "study": {"name": STUDY, "sampler": "random", "seed": 0, "pruner": "none", "trials": 5},
    "params": {
        "dataset": "mnist-mini",
        "hidden_layers": [8],
        "activation": "linear",
        "output_activation": "linear",
        "weight_init": "normal",
        "bias_init": "normal",
        "loss": "mse",
        "optimizer": "sgd",
        "batch_size": 100,
        "epochs": 2,
        "seed": 0,
        "learning_rate": {"type": "float", "low": 0.0001, "high": 3.0, "log": True},
        "weight_init_scale": {"type": "float", "low": 0.0, "high": 1.0},
    },
}


@dataclass
class Sweep:
    root: Path
    report: Path
    experiment_id: str
    parent_run_id: str
    trial_runs: dict[str, str]  # run name -> run id


@dataclass
class Ui:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path


def _cli(*args: str | Path) -> None:
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        assert not exc.code, f"sweeps {' '.join(map(str, args))} exited {exc.code}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("browser") / "mlruns"
    # create MLflow's tables here, so the UI server and the sweep do not race to do it
    MlflowClient(resolve_store(root=root).tracking_uri).search_experiments()
    return root


@pytest.fixture(scope="module")
def sweep(root: Path) -> Sweep:
    """A finished 5-trial sweep (some trials diverge) and its report."""
    space = root.parent / "space.yaml"
    space.write_text(yaml.safe_dump(SPACE, sort_keys=False))
    _cli("run", space, "--root", root, "--engine", "single", "--quiet")
    out = root.parent / "report.html"
    _cli("report", STUDY, "--out", out, "--root", root)
    client = MlflowClient(resolve_store(root=root).tracking_uri)
    exp = client.get_experiment_by_name(STUDY)
    assert exp is not None
    runs = client.search_runs([exp.experiment_id], max_results=100)
    parent = next(r for r in runs if r.data.tags.get("sweeps.role") == "parent")
    trials = {
        r.info.run_name: r.info.run_id for r in runs if r.data.tags.get("sweeps.role") == "trial"
    }
    return Sweep(root, out, str(exp.experiment_id), parent.info.run_id, trials)


@pytest.fixture(scope="module")
def ui(root: Path, sweep: Sweep) -> Iterator[Ui]:
    """``sweeps ui STUDY`` on the module's store, once the sweep is done (as a user would):
    it prints the URL of the study's runs, which the UI test starts from."""
    port = _free_port()
    log = root.parent / "ui.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-c", "from sweeps.cli import main; main()"),
                *("ui", STUDY, "--port", str(port), "--root", str(root)),
            ],
            cwd=root.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(PROJECT)},
            start_new_session=True,
        )
    try:
        yield Ui(f"http://127.0.0.1:{port}", proc, log)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,1000",
    ):
        options.add_argument(arg)
    profile = tempfile.mkdtemp(prefix="sweeps-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def severe_errors(driver: Any, ignore: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """SEVERE browser-log entries since the last call, without favicon 404s and ``ignore``."""
    return [
        e
        for e in driver.get_log("browser")
        if e["level"] == "SEVERE"
        and "favicon.ico" not in e["message"]
        and not any(s in e["message"] for s in ignore)
    ]


def screenshot(driver: Any, tmp_path: Path, name: str, element: Any = None) -> Path:
    """Save a PNG under ``tmp_path`` and copy it to /tmp/sweeps-screenshots/."""
    path = tmp_path / f"{name}.png"
    if element is not None:
        driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", element)
        assert element.screenshot(str(path))
    else:
        assert driver.save_screenshot(str(path))
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SHOTS / path.name)
    return path


def page_screenshots(driver: Any, tmp_path: Path, name: str, sections: list[str]) -> None:
    """The whole page, then each section on its own, in a window as tall as the page."""
    from selenium.webdriver.common.by import By

    width = driver.get_window_size()["width"]
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(int(height) + 100, 12000))
    try:
        screenshot(driver, tmp_path, f"{name}-full")
        for anchor in sections:
            element = driver.find_element(By.ID, anchor)
            screenshot(driver, tmp_path, f"{name}-{anchor}", element)
    finally:
        driver.set_window_size(width, 1000)


def wait_for(driver: Any, condition: Any, timeout: float, message: str) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.25).until(condition, message)


def body_text(driver: Any) -> str:
    return str(driver.execute_script("return document.body ? document.body.innerText : ''"))


# -- the report ------------------------------------------------------------------------------

PLOTS_READY = """
const plots = [...document.querySelectorAll('div.plot')];
const done = plots.filter(p => p.querySelector('.js-plotly-plot svg.main-svg'));
return [plots.length, done.length, document.querySelectorAll('.js-plotly-plot').length];
"""


def test_report_renders_every_plot_offline_without_js_errors(
    sweep: Sweep, browser: Any, tmp_path: Path
) -> None:
    study = load_existing(STUDY, resolve_store(root=sweep.root))
    severe_errors(browser)  # start from a clean log
    browser.set_network_conditions(
        offline=True, latency=0, download_throughput=0, upload_throughput=0
    )
    try:
        started = time.perf_counter()
        browser.get(sweep.report.as_uri())
        counts = wait_for(
            browser,
            lambda d: (c := d.execute_script(PLOTS_READY)) and c[0] == c[1] == c[2] and c,
            60,
            "plots did not render",
        )
        rendered_s = time.perf_counter() - started
    finally:
        browser.delete_network_conditions()
    n_plots = counts[0]
    # history, failure map, curves, importances, parallel coordinates, >= 1 slice
    assert n_plots >= 6, counts
    assert browser.execute_script("return typeof Plotly") == "object"
    assert browser.title == f"sweeps report: {STUDY}"
    # the failure map: one point per finished trial, a legend entry per outcome present
    finished = [t for t in study.trials if t.state.is_finished()]
    points = browser.execute_script(
        "return document.querySelectorAll('#plot-failure-map-0 .scatterlayer .point').length"
    )
    assert points == len(finished)
    legend = browser.execute_script(
        "return [...document.querySelectorAll('#plot-failure-map-0 .legendtext')]"
        ".map(e => e.textContent)"
    )
    outcomes = {str(t.user_attrs["outcome"]) for t in finished}
    assert {entry.split(" (")[0] for entry in legend} == outcomes
    # learning curves drawn from the MLflow histories
    curves = browser.execute_script(
        "return document.querySelectorAll('#plot-curves-0 .scatterlayer .trace').length"
    )
    assert curves >= 4  # at least one trial in four panels
    text = body_text(browser)
    for heading in ("Summary", "Failure map", "Learning curves", "Parameter importances"):
        assert heading in text
    assert severe_errors(browser) == []
    page_screenshots(browser, tmp_path, "report", ["summary", "history", "failure-map", "curves"])
    assert severe_errors(browser) == []
    assert rendered_s < 45, f"report took {rendered_s:.1f}s to render"


# -- the MLflow UI ---------------------------------------------------------------------------


def _wait_healthy(ui: Ui, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if ui.proc.poll() is not None:
            pytest.fail(f"sweeps ui exited {ui.proc.returncode}:\n{ui.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{ui.url}/health", timeout=2) as r:
                if r.read().decode().strip() == "OK":
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"MLflow UI not healthy after {timeout}s:\n{ui.log.read_text()[-3000:]}")


def _printed_runs_url(ui: Ui) -> str:
    """The runs URL from ``sweeps ui STUDY``'s output (printed before the server starts)."""
    prefix = f"runs of study '{STUDY}': "
    for line in ui.log.read_text().splitlines():
        if line.startswith(prefix):
            return line.removeprefix(prefix).strip()
    pytest.fail(f"sweeps ui printed no runs URL:\n{ui.log.read_text()[-3000:]}")


def _close_assistant(driver: Any) -> None:
    """MLflow 3 opens an assistant side panel; close it so screenshots show the runs."""
    from selenium.webdriver.common.by import By

    for button in driver.find_elements(
        By.CSS_SELECTOR, "button[data-component-id='mlflow.assistant.chat_panel.close']"
    ):
        if button.is_displayed():
            button.click()


def test_mlflow_ui_shows_the_study_its_runs_and_the_report(
    sweep: Sweep, ui: Ui, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    _wait_healthy(ui)
    severe_errors(browser)
    browser.set_window_size(1600, 1000)
    # start from the URL `sweeps ui STUDY` printed, as a new user would
    printed = _printed_runs_url(ui)
    assert printed == f"{ui.url}/#/experiments/{sweep.experiment_id}/runs"
    browser.get(printed)
    view = "workflowType=machine_learning"  # for the artifact pages below
    parent_name = f"study:{STUDY}"
    wait_for(browser, lambda d: parent_name in body_text(d), 90, "parent run not listed")
    assert STUDY in body_text(browser)  # the experiment's name in the header
    _close_assistant(browser)
    # trial runs are nested under the parent run: expand it
    expand = wait_for(
        browser,
        ec.element_to_be_clickable(
            (By.CSS_SELECTOR, "button[data-component-id*='runnamecellrenderer']")
        ),
        30,
        "no expander on the parent run",
    )
    expand.click()
    names = sorted(sweep.trial_runs)
    assert len(names) == SPACE["study"]["trials"]
    wait_for(
        browser,
        lambda d: all(n in body_text(d) for n in names),
        30,
        f"trial runs {names} not shown",
    )
    assert f"{len(names) + 1} matching runs" in body_text(browser)
    # the Dataset column: every run's data, by name and digest, with its split
    shown = body_text(browser)
    assert shown.count("mnist-mini (") >= len(names) + 1 and "Training" in shown
    screenshot(browser, tmp_path, "mlflow-runs")
    assert severe_errors(browser, MLFLOW_UI_NOISE) == []

    # the report, logged on the parent run, renders inside MLflow's artifact viewer
    browser.get(
        f"{ui.url}/#/experiments/{sweep.experiment_id}/runs/{sweep.parent_run_id}"
        f"/artifacts/report.html?{view}"
    )
    frame = wait_for(
        browser, ec.presence_of_element_located((By.TAG_NAME, "iframe")), 60, "no artifact view"
    )
    assert "report.html" in body_text(browser) and parent_name in body_text(browser)
    _close_assistant(browser)
    browser.switch_to.frame(frame)
    try:
        wait_for(
            browser,
            lambda d: (c := d.execute_script(PLOTS_READY)) and c[0] == c[1] >= 6,
            60,
            "report plots not rendered inside MLflow",
        )
    finally:
        browser.switch_to.default_content()
    screenshot(browser, tmp_path, "mlflow-report-artifact")

    # the best trial's run holds its learning curve, which renders there too
    best = load_existing(STUDY, resolve_store(root=sweep.root)).best_trial
    best_run = best.user_attrs["mlflow_run_id"]
    browser.get(
        f"{ui.url}/#/experiments/{sweep.experiment_id}/runs/{best_run}"
        f"/artifacts/learning_curve.html?{view}"
    )
    frame = wait_for(
        browser, ec.presence_of_element_located((By.TAG_NAME, "iframe")), 60, "no artifact view"
    )
    assert f"trial-{best.number}" in body_text(browser)
    _close_assistant(browser)
    browser.switch_to.frame(frame)
    try:
        traces = wait_for(
            browser,
            lambda d: d.execute_script(
                "return document.querySelectorAll('.js-plotly-plot .scatterlayer .trace').length"
            ),
            60,
            "learning curve not rendered inside MLflow",
        )
    finally:
        browser.switch_to.default_content()
    assert traces >= 4  # one line per panel
    screenshot(browser, tmp_path, "mlflow-best-run-curve")
    assert severe_errors(browser, MLFLOW_UI_NOISE) == []
