"""The real app in headless Chromium: a full rater session of the example study, then the lab page.

The example study is built with tiny random models and 1 s excerpts (so clips play in full quickly),
the app runs as `python app.py` on a free loopback port, and screenshots of every step are saved
under test-output/browser/ (desktop, then phone width for the second half of the session).
"""

from __future__ import annotations

import csv
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from tests.support.paths import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = ROOT / "test-output" / "browser"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",  # page.evaluate plays the clips
]
START_LIMIT_S = 30.0
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
PLAY_VISIBLE_CLIP = """() => {
    const clip = [...document.querySelectorAll('audio')].find(a => a.offsetParent !== null && a.src);
    if (!clip) return false;
    clip.currentTime = 0;
    clip.play();
    return true;
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory, tiny_models: Path) -> Iterator[dict]:
    """The example study (1 s clips, tiny models) built and served by `python app.py` on a free port."""
    tmp = tmp_path_factory.mktemp("browser")
    raw = yaml.safe_load((ROOT / "studies" / "example.yaml").read_text())
    raw["stimuli"]["dir"] = str(tmp / "stimuli")
    raw["stimuli"]["build"].update(mixtures=str(ROOT / "examples" / "examples.csv"), excerpt_s=1, dnsmos=False)
    study = tmp / "example.yaml"
    study.write_text(yaml.safe_dump(raw))
    run(
        "-m",
        "listening_tests",
        "build",
        "--study",
        str(study),
        "--models",
        str(tiny_models),
        "--device",
        "cpu",
        "--workers",
        "0",
        "--quiet",
    )
    port = free_port()
    (tmp / "tmp").mkdir()
    env = {**os.environ, "TMPDIR": str(tmp / "tmp"), "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("GRADIO_TEMP_DIR", None)
    log = open(tmp / "app.log", "w")
    command = [
        sys.executable,
        "app.py",
        "--port",
        str(port),
        "--data-dir",
        str(tmp / "data"),
        "--models",
        str(tiny_models),
        "--study",
        str(study),
        "--device",
        "cpu",
    ]
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        while not _answers(url):
            assert process.poll() is None, (tmp / "app.log").read_text()
            assert time.monotonic() - started < 90, "the app did not start within 90 s"
            time.sleep(0.25)
        startup_s = time.monotonic() - started
        yield {"url": url, "tmp": tmp, "study": study, "startup_s": startup_s, "log": tmp / "app.log"}
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def serve(tmp: Path, study: Path, models: Path, tmpdir: Path) -> Iterator[str]:
    """`python app.py` for `study` on a free port, logging to tmp/app.log; yields its URL once it answers."""
    port = free_port()
    env = {**os.environ, "TMPDIR": str(tmpdir), "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("GRADIO_TEMP_DIR", None)
    command = [sys.executable, "app.py", "--port", str(port), "--data-dir", str(tmp / "data")]
    command += ["--models", str(models), "--study", str(study), "--device", "cpu"]
    with open(tmp / "app.log", "w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            started = time.monotonic()
            while not _answers(url):
                assert process.poll() is None, (tmp / "app.log").read_text()
                assert time.monotonic() - started < 90, "the app did not start within 90 s"
                time.sleep(0.25)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser_page(app_server: dict) -> Iterator:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(app_server["tmp"] / "chromium-profile"),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport=DESKTOP,
        )
        page = context.new_page()
        page.set_default_timeout(30_000)
        yield page
        context.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_app_starts_fast_and_says_what_it_serves(app_server: dict) -> None:
    text = app_server["log"].read_text()
    assert "study: example-acr (acr, " in text
    assert "models: SepFormer: " in text and "tiny-models" in text
    assert app_server["startup_s"] < START_LIMIT_S, f"start-up took {app_server['startup_s']:.1f} s"


def test_full_rater_session_and_export(app_server: dict, browser_page) -> None:
    page = browser_page
    page.goto(app_server["url"])
    page.get_by_role("button", name="Continue").click()  # the introduction (tests/browser/test_rater_pages.py)
    page.get_by_role("button", name="I agree and want to take part").wait_for()
    shot(page, "01-consent")
    page.get_by_role("button", name="I agree and want to take part").click()
    page.get_by_role("button", name="Start").wait_for()
    shot(page, "02-instructions")
    page.get_by_role("button", name="Start").click()

    given: list[int] = []
    step = 0
    while True:
        title = page.locator("h3", has_text=re.compile(r"Page \d+ of|Training page")).first
        done = page.get_by_text("Your completion code is")
        title.or_(done).first.wait_for()
        if done.is_visible():
            break
        heading = title.inner_text()
        step += 1
        if step == 8:
            page.set_viewport_size(PHONE)  # the second half of the session at phone width
        score = 1 + step % 5
        radio = page.get_by_role("radio", name=re.compile(rf"^{score} "))
        assert radio.is_disabled(), "rating must wait until the clip played to the end"
        assert page.evaluate(PLAY_VISIBLE_CLIP), "no playable clip on the page"
        page.wait_for_function(
            "n => [...document.querySelectorAll('input[type=radio]')].some(r => !r.disabled && r.offsetParent)",
            arg=None,
            timeout=20_000,
        )
        radio.check()
        if step in (1, 4, 9):
            shot(page, f"03-step{step:02d}-{'phone' if step >= 8 else 'desktop'}")
        page.get_by_role("button", name="Save and continue").click()
        page.locator("h3", has_text=heading).wait_for(state="detached")
        if not heading.startswith("Training"):
            given.append(score)
    code = re.search(r"completion code is (\S+)", page.get_by_text("Your completion code is").inner_text()).group(1)
    shot(page, "04-done-phone")
    page.reload()
    page.get_by_text(code).wait_for()  # resume after reload: the same completion code

    out = app_server["tmp"] / "ratings.csv"
    run(
        "-m",
        "listening_tests",
        "export",
        "--db",
        f"sqlite:///{app_server['tmp'] / 'data' / 'ratings.sqlite'}",
        "--out",
        str(out),
    )
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(given) == 12  # 10 test clips + 1 trap + 1 gold
    assert [float(r["score"]) for r in rows] == given
    assert len({r["session_id"] for r in rows}) == 1 and {r["protocol"] for r in rows} == {"acr"}
    assert all(float(r["listen_s"]) >= 0.7 for r in rows)
    page.set_viewport_size(DESKTOP)


def test_lab_refuses_bad_uploads_at_once_and_states_conversions(app_server: dict, browser_page) -> None:
    import numpy as np
    import soundfile as sf

    page = browser_page
    page.set_viewport_size(DESKTOP)
    page.goto(f"{app_server['url']}/lab")
    page.get_by_text("Up to 30 s and 100 MB").wait_for()
    sr = 16000
    tone = 0.1 * np.sin(2 * np.pi * 220 * np.arange(sr) / sr).astype(np.float32)
    files = app_server["tmp"] / "uploads"
    files.mkdir(exist_ok=True)
    sf.write(files / "five_minutes.wav", np.tile(tone, 300), sr)
    sf.write(files / "silent.wav", np.zeros(sr, np.float32), sr)
    wide = 0.1 * np.sin(2 * np.pi * 220 * np.arange(44100) / 44100).astype(np.float32)
    sf.write(files / "stereo.wav", np.stack([wide, wide], axis=1), 44100)
    mixture = page.locator("input[type=file]").first
    for name, sentence in (
        ("five_minutes.wav", "The file 'five_minutes.wav' lasts 300.0 s, longer than the 30 s limit."),
        ("silent.wav", "The file 'silent.wav' contains no sound (it is silent or a constant level)."),
    ):
        started = time.monotonic()
        mixture.set_input_files(str(files / name))
        page.get_by_role("alert").filter(has_text=sentence).wait_for(timeout=10_000)
        assert time.monotonic() - started < 5.0, f"{name} was refused after {time.monotonic() - started:.1f} s"
        mixture.wait_for(state="attached")  # the refused file is cleared: the upload field is back
    shot(page, "05-lab-refused-upload")
    mixture.set_input_files(str(files / "stereo.wav"))
    page.get_by_text("1.0 s: 2 channels mixed down to mono and 44100 Hz resampled to 16000 Hz.").wait_for()


def test_lab_tab_separates_an_upload_into_six_players_and_a_zip(app_server: dict, browser_page) -> None:
    import io
    import json
    import zipfile

    page = browser_page
    page.set_viewport_size(DESKTOP)
    page.goto(f"{app_server['url']}/lab")
    mixture = ROOT / "examples" / "tts_unseen_voices_1" / "mix.wav"
    page.locator("input[type=file]").first.set_input_files(str(mixture))
    page.get_by_text("3.0 s, mono at 16000 Hz: used as it is.").wait_for()
    page.get_by_role("button", name="Separate").click()
    players = page.locator("audio[data-testid^='audio-player-SepFormer']")
    page.wait_for_function(
        "() => document.querySelectorAll(\"audio[data-testid^='audio-player-SepFormer']\").length === 6",
        timeout=120_000,
    )
    assert players.count() == 6
    page.locator("img[alt]").first.wait_for()
    page.get_by_text("Models: SepFormer: local checkpoint tiny-models").wait_for()
    page.get_by_text("need both references").first.wait_for()  # DNSMOS only: says which metrics need references
    shot(page, "06-lab-desktop")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the run (zip)").click()
    with zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes())) as archive:
        names = sorted(name.split("/", 1)[1] for name in archive.namelist())
        stem = archive.namelist()[0].split("/")[0]
        saved = json.loads(archive.read(f"{stem}/run.json"))
        assert archive.read(f"{stem}/input/mixture.wav") == mixture.read_bytes()
    outputs = [
        f"{p}_talker{t}" for p in ("sepformer", "sepformer_diffwave", "sepformer_diffwave_fusion") for t in (1, 2)
    ]
    assert names == sorted(
        ["input/mixture.wav", "metrics.csv", "run.json", *(f"{o}.wav" for o in outputs), *(f"{o}.png" for o in outputs)]
    )
    assert saved["models"].startswith("SepFormer: local checkpoint tiny-models") and "speechbrain" in saved["versions"]
    assert download.value.suggested_filename == f"{stem}.zip"
    page.set_viewport_size(PHONE)
    shot(page, "07-lab-phone")
    page.set_viewport_size(DESKTOP)


RECORD_PLAYERS = """() => {
    window.playerCounts = [];
    window.statusLines = [];
    const count = () => document.querySelectorAll("audio[data-testid^='audio-player-SepFormer']").length;
    new MutationObserver(() => {
        const n = count();
        if (window.playerCounts.at(-1) !== n) window.playerCounts.push(n);
        const line = document.querySelector('#lab-status')?.innerText.trim();
        if (line && window.statusLines.at(-1) !== line) window.statusLines.push(line);
    }).observe(document.body, {childList: true, subtree: true, characterData: true});
}"""


def test_lab_shows_each_pipeline_when_done_and_reopens_earlier_runs(app_server: dict, browser_page) -> None:
    page = browser_page
    page.set_viewport_size(DESKTOP)
    page.goto(f"{app_server['url']}/lab")
    page.evaluate("() => localStorage.clear()")  # forget runs other tests of this browser kept
    page.reload()
    mixture = ROOT / "examples" / "tts_unseen_voices_2" / "mix.wav"
    page.locator("input[type=file]").first.set_input_files(str(mixture))
    page.get_by_text("3.0 s, mono at 16000 Hz: used as it is.").wait_for()
    page.evaluate(RECORD_PLAYERS)
    page.get_by_role("button", name="Separate").click()
    page.get_by_text(re.compile(r"This run should take about \d+ s|No run has been timed")).wait_for()
    page.get_by_text(re.compile(r"Done in [\d.]+ s: SepFormer")).wait_for(timeout=120_000)
    counts, lines = page.evaluate("[window.playerCounts, window.statusLines]")
    assert counts[-1] == 6 and 2 in counts[: counts.index(6)], counts  # SepFormer's two players came first
    assert any(re.search(r"After [\d.]+ s: SepFormer ready", line) for line in lines), lines
    assert any("scoring" in line for line in lines), lines  # players shown before their metrics
    shot(page, "10-lab-staged-done")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the run (zip)").click()
    first = download.value.suggested_filename

    page.evaluate("window.statusLines = []")
    page.get_by_role("button", name="Separate").click()  # a second run of the same tab
    page.get_by_text(re.compile(r"This run should take about \d+ s \(from the last (run|\d+ runs) ")).wait_for()
    page.wait_for_function("() => window.statusLines.some(l => l.includes('Done in'))", timeout=120_000)
    from playwright.sync_api import expect

    page.get_by_role("button", name="Download the run (zip)").wait_for()
    earlier = page.get_by_label("Your earlier runs (kept in this browser)")
    earlier.click()
    options = page.get_by_role("option")
    expect(options).to_have_count(2, timeout=30_000)  # the list is updated as the run's event ends
    assert all("mix.wav (3.0 s)" in t for t in options.all_inner_texts())
    options.nth(1).click()  # the first run again: its players, metrics and zip
    page.wait_for_function("() => window.playerCounts.at(-1) === 6")
    time.sleep(1.0)  # the reopened run's updates are in
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the run (zip)").click()
    assert download.value.suggested_filename == first
    shot(page, "11-lab-earlier-run")

    page.reload()  # the list survives a reload: kept in the browser, reopened from the server's files
    earlier = page.get_by_label("Your earlier runs (kept in this browser)")
    for _ in range(30):  # the page's load event fills the list shortly after the page shows
        earlier.click()
        if page.get_by_role("option").count() == 2:
            break
        page.keyboard.press("Escape")
        time.sleep(1.0)
    expect(page.get_by_role("option")).to_have_count(2)
    page.evaluate(RECORD_PLAYERS)
    page.get_by_role("option").nth(1).click()
    page.wait_for_function("() => window.playerCounts.at(-1) === 6")
    time.sleep(1.0)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the run (zip)").click()
    assert download.value.suggested_filename == first


def test_lab_cancel_stops_the_run_and_frees_the_tab(app_server: dict, browser_page) -> None:
    page = browser_page
    page.set_viewport_size(DESKTOP)
    page.goto(f"{app_server['url']}/lab")
    mixture = ROOT / "examples" / "tts_unseen_voices_1" / "mix.wav"
    page.locator("input[type=file]").first.set_input_files(str(mixture))
    page.get_by_text("3.0 s, mono at 16000 Hz: used as it is.").wait_for()
    lab_runs = app_server["tmp"] / "tmp" / "ddpmss-lab" / "lab"  # the app's run folders (written at a run's end)
    before = len(list(lab_runs.iterdir())) if lab_runs.is_dir() else 0
    page.get_by_role("button", name="Separate").click()
    time.sleep(1.5)
    shot(page, "08-lab-running")
    page.get_by_role("button", name="Cancel").click()
    time.sleep(20.0)  # longer than a whole run here: a run that went on would have written its folder
    assert (len(list(lab_runs.iterdir())) if lab_runs.is_dir() else 0) == before
    assert page.locator("audio[data-testid^='audio-player-SepFormer']").count() == 0
    shot(page, "09-lab-cancelled")
    page.get_by_role("button", name="Separate").click()  # the tab may start a new job at once
    page.wait_for_function(
        "() => document.querySelectorAll(\"audio[data-testid^='audio-player-SepFormer']\").length === 6",
        timeout=120_000,
    )
