"""Every sentence a user of the app reads (raters, lab users, admins), in one place.

Component labels stay beside their components in the page modules; what is said to a person (notices,
errors, explanations, status lines) lives here, so wording is reviewed and changed in one file.
"""

from __future__ import annotations

import html
from typing import Any

from listening_tests.estimate import SessionEstimate

# ------------------------------------------------------------------------------------------ rater

RELOAD = "This page is out of date: please reload it to continue where you left off."
ANSWER_ALL = "Please answer every question on this page before continuing."
LISTEN_FIRST = "Please listen to the whole clip, to its end, before rating it."
LISTEN_BOTH = "Please listen to both clips, A and B, to their end before answering."
PLAY_TO_UNLOCK = "Play the clip to its end: the answers open when it has been heard."
PLAY_BOTH_TO_UNLOCK = "Play both clips, A then B, to their end: the answers open when both have been heard."
OTHER_TAB = "This page had already been rated in another tab; those ratings were kept."
PRACTICE = " (practice: these answers are not stored)"
# The MUSHRA panel's words (app/static/mushra.js shows them; "{label}" is a stimulus's button label).
MUSHRA_PANEL = {
    "reference": "Reference",
    "reference_short": "Ref.",
    "play": "Play",
    "pause": "Pause",
    "stop": "Stop",
    "save": "Save and continue",
    "loading": "Loading the clips...",
    "failed": "The clips could not be loaded: please reload the page.",
    "hint": "Play, then switch between the clips with their buttons: playback goes on at the same place.",
    "hint_restart": "Play, then switch between the clips with their buttons: each clip starts again from the start.",
    "loop_hint": "Drag across the waveform to loop a part of the clips.",
    "keys": "Keyboard: space plays and pauses, left and right choose a clip, up and down set its score.",
    "locked": "Play {label} to rate it",
    "exclusive": "Switch to {label} to move its slider",
    "score_for": "Score for {label}",
    "untouched": "not rated",
}
FINISHED_TITLE = "Finished"
STUDY_FULL = (
    "Thank you for your interest: this study is full, it has all the participants it needs. "
    "You do not need to do anything else."
)
RETURN_LINK = "Return to the study platform to record your participation"


PURPOSE = (
    "This listening test asks how good speech sounds after it has been separated from a recording of two "
    "people talking at once. Your answers help researchers compare separation methods as listeners hear them."
)


def introduction(purpose: str, mushra: bool, estimate: SessionEstimate, pairs: bool = False) -> str:
    """The introduction page: the purpose, the number of trials and how long a session takes."""
    if mushra:
        trials = f"{estimate.pages} pages of {estimate.clips_per_page} clips each"
    elif pairs:
        trials = f"{estimate.pages} pairs of clips, one pair per page"
    else:
        trials = f"{estimate.pages} clips, one per page"
    practice = ""
    if estimate.training_pages:
        unit = "page" if estimate.training_pages == 1 else "pages"
        practice = f", after {estimate.training_pages} practice {unit} whose answers are not stored"
    minutes = "1 minute" if estimate.minutes == 1 else f"{estimate.minutes} minutes"
    return (
        f"## About this test\n\n{purpose or PURPOSE}\n\nYou will rate {trials}{practice}. It takes about "
        f"{minutes}; please do it in one sitting, with headphones, in a quiet room."
    )


BEFORE_TITLE = "Before the test"
CHECK_CHOICES = [("The first tone", 0), ("The second tone", 1), ("The third tone", 2)]


def before_test(questions: bool, check_trials: int) -> str:
    """What the page before the test asks (P.808's questions, the headphone check of Woods et al. 2017)."""
    parts = []
    if questions:
        parts.append("Please tell us how you are listening: these answers decide whether your ratings can be used.")
    if check_trials:
        parts.append(
            "Put on your headphones now. Each of the "
            f"{check_trials} sounds below plays three tones, one after the other: choose the one that was the "
            "quietest. Set a comfortable volume on the first sound and do not change it afterwards."
        )
    return "\n\n".join(parts)


def check_label(trial: int) -> str:
    """The answer of headphone-check trial `trial` (1-based)."""
    return f"Sound {trial}: which tone was the quietest?"


def training_example(end: str) -> str:
    """The sentence over a training clip that shows one end of the scale ('best' or 'worst')."""
    if end == "best":
        return "This clip is an example of the best quality in this test: the clean recording of the talker."
    return "This clip is an example of very poor quality, near the bottom of the scale."


REDIRECT_S = 5  # seconds before a finished crowd rater is taken back to the study platform


def return_link(url: str) -> str:
    """The link that sends a finished rater back to the crowdsourcing platform (the code is in `url`); the page
    follows it by itself after REDIRECT_S seconds (app/static/redirect.js)."""
    if not url:
        return ""
    href = html.escape(url, quote=True)
    return (
        f'<p class="lab-return"><a href="{href}" rel="noopener" data-redirect="{REDIRECT_S}">{RETURN_LINK}</a> '
        f"(you will be taken there in {REDIRECT_S} seconds)</p>"
    )


def unavailable(problem: str | None) -> str:
    """Why a rater cannot take the listening test now."""
    return f"The listening test is not available: {problem}"


def play_every_clip(missing: list[str]) -> str:
    """A MUSHRA page submitted before every clip was played."""
    return f"Please play every clip before rating ({', '.join(missing)} not played yet)."


def untouched_sliders(labels: list[str]) -> str:
    """A MUSHRA page submitted with sliders never moved (0 counts only when set on purpose)."""
    return f"Please set the slider of every clip, even to 0 ({', '.join(labels)} not rated yet)."


def completion(code: str) -> str:
    """The last page of a finished session, with the code the rater hands in."""
    return f"Thank you, you have rated every clip.\n\nYour completion code is **{code}**"


def page_title(index: int, total: int, training: bool) -> str:
    """'Page 3 of 8' (or 'Training page 1 of 2')."""
    return f"{'Training page' if training else 'Page'} {index + 1} of {total}"


def progress_text(done: int, total: int, training: bool) -> str:
    """'2 of 8 pages done' under the progress bar."""
    return f"{done} of {total} {'training pages' if training else 'pages'} done"


# ------------------------------------------------------------------------------------ study, models


def stimuli_not_built(study_id: str, study_path: object) -> str:
    """The study's stimuli are missing and the app cannot build them itself."""
    return (
        f"The stimuli of the study '{study_id}' are not built yet: run "
        f"python -m listening_tests build --study {study_path}"
    )


def stimuli_preparing(study_id: str) -> str:
    """The app builds the study's stimuli itself on a first start."""
    return (
        f"The stimuli of the study '{study_id}' are being prepared (first start, a few minutes); "
        "please reload this page shortly."
    )


def stimuli_failed(study_id: str, error: Exception) -> str:
    """Building the stimuli on a first start failed."""
    return f"The stimuli of the study '{study_id}' could not be built: {error}"


MODELS_LOADING = "Models: loading in the background (the first separation waits for them)."


MODELS_UNAVAILABLE = "Models: not available (the server's log says why)."
MODELS_FAILED = "The models could not be loaded on the server; its log says why."


def models_in_use(description: str) -> str:
    """The models the lab runs."""
    return f"Models: {description}"


# -------------------------------------------------------------------------------------------- lab

# the progress bar of a separation, stage by stage
READING_AUDIO = "Reading the audio"
LOADING_MODELS = "Loading the models"
STAGES = {
    "sepformer": "SepFormer: separating the two talkers",
    "vocoder": "DiffWave re-synthesis",
    "fusion": "Fusion of SepFormer and DiffWave",
}
SCORING = "Scoring against the references"
SCORING_DNSMOS = "Scoring with DNSMOS (no references given)"
METRICS_NEED_REFERENCES = (
    "Without references only DNSMOS is computed: SI-SDR, SI-SDRi, PESQ, STOI and ESTOI need both references."
)
WRITING = "Writing the outputs and spectrograms"
DONE = "Done"
NO_MIXTURE = "Upload or record a mixture first, or pick an example."
BOTH_REFERENCES = "Give both reference sources, or neither."
NO_OUTPUT = "This output does not exist."
SEPARATE_FIRST = "Separate a mixture first."
RATING_SAVED = "Rating saved."
ONE_JOB = "This tab is already separating a mixture: wait for it, or cancel it first."
CANCELLED = "Separation cancelled."
SEPARATION_FAILED = "The separation failed on the server; please try a shorter or different recording."


def vocoder_step(source: int, step: int, steps: int) -> str:
    """The progress bar during the vocoder: which talker, which of its steps."""
    return f"DiffWave re-synthesis, talker {source}: step {step} of {steps}"


def lab_estimate(seconds: float | None, runs: int) -> str:
    """The line shown as a lab run starts: how long it should take."""
    if seconds is None:
        return "No run has been timed on this server yet; the first one may also wait for the models to load."
    timed = f"the last {runs} runs" if runs > 1 else "the last run"
    return f"This run should take about {seconds:.0f} s (from {timed} on this server)."


def lab_ready(ready: list[str], scored: list[str], elapsed: float) -> str:
    """The line under Separate while a run goes on: which pipelines are ready and which are scored."""
    parts = [f"{title} ready{' and scored' if title in scored else ', scoring'}" for title in ready]
    return f"After {elapsed:.1f} s: {'; '.join(parts)}." if parts else ""


def lab_done(total: float, stages: list[tuple[str, float]], metrics: float) -> str:
    """The line under Separate after a run: its time and the stage breakdown."""
    breakdown = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in stages)
    return f"Done in {total:.1f} s: {breakdown}; metrics {metrics:.1f} s beside them."


def lab_history_entry(clock: str, mixture: str, seconds: float) -> str:
    """One earlier run of this tab in the list that reopens it."""
    return f"{clock} · {mixture} ({seconds:.1f} s)"


BENCH_DESCRIPTION = "Time the side-by-side lab end to end on a 4 s mixture."


def bench_summary(report: dict, path: object) -> str:
    """The line `python -m app.bench` prints."""
    warm = report["warm_median"]
    return (
        f"lab, {report['mixture_s']:g} s mixture, {report['cpu']} ({report['cores']} cores, torch "
        f"{report['torch_threads']} threads): SepFormer players {warm['sepformer_players_s']:.2f} s, all players "
        f"{warm['all_players_s']:.2f} s, complete {warm['complete_s']:.2f} s (median of {report['runs']} warm runs)"
        + (f"; API separate {report['api_separate_median_s']:.2f} s" if "api_separate_median_s" in report else "")
        + f"; wrote {path}"
    )


RATER_BENCH_DESCRIPTION = "Time rating submissions with many simulated raters at once through the running app."


def rater_bench_summary(report: dict, path: object) -> str:
    """The line `python -m app.bench_raters` prints."""
    return (
        f"{report['raters']} raters x {report['ratings_per_rater']} ratings ({report['database']}, {report['cpu']}, "
        f"{report['cores']} cores): submission p50 {report['p50_ms']} ms, p95 {report['p95_ms']} ms, "
        f"{report['acknowledged']} acknowledged, {report['errors']} errors; report in {path}"
    )


def bench_app_failed(log_tail: str) -> str:
    """The rater benchmark's app did not start."""
    return f"The app did not start; the end of its log:\n{log_tail}"


LOAD_LIMITS = "error: --raters must be 1 to 500 and --ratings 1 to 1000."


def no_rater_events(missing: list[str]) -> str:
    """The load driver found an app without the listening test's events."""
    return f"The app at this address has no listening-test events ({', '.join(missing)})."


def bench_examples_too_short(seconds: float) -> str:
    """The lab benchmark cannot cut its mixture from the examples."""
    return f"The example mixtures last less than {seconds:g} s in all."


def upload_limits(max_seconds: float, max_mb: float) -> str:
    """The limits shown next to the mixture upload."""
    return f"Up to {max_seconds:g} s and {max_mb:g} MB: WAV, FLAC, OGG or MP3, any sample rate, mono or more channels."


def conversions(channels: int, sample_rate: int, seconds: float, output_sr: int) -> str:
    """The one line under an accepted upload saying how it is converted for the pipelines."""
    done = []
    if channels > 1:
        done.append(f"{channels} channels mixed down to mono")
    if sample_rate != output_sr:
        done.append(f"{sample_rate} Hz resampled to {output_sr} Hz")
    if not done:
        return f"{seconds:.1f} s, mono at {sample_rate} Hz: used as it is."
    return f"{seconds:.1f} s: {' and '.join(done)}."


def no_example(name: str) -> str:
    """A picked example that the examples list does not hold."""
    return f"There is no example called '{name}'."


# ---------------------------------------------------------------------------------------- results

DENIED = "Results are for the study's administrators: enter the admin password (or sign in with an allowed account)."
OPEN_RESULTS = "No admin password is set: results are shown because the app listens on this computer only."


def no_study(problem: str | None) -> str:
    """The results tab without a loaded study."""
    return f"No study is loaded: {problem}"


def no_ratings(study_id: str) -> str:
    """The results tab before the first rating."""
    return f"No ratings yet for the study '{study_id}'."


def no_analysis(n_ratings: int, error: Exception) -> str:
    """Ratings exist but cannot be analysed yet (too few, one condition, ...)."""
    return f"{n_ratings} ratings stored; no analysis yet: {error}"


def ratings_counted(ratings: int, raters: int, retained: int, raters_retained: int, excluded: int, checks: int) -> str:
    """The headline of the results tab."""
    return (
        f"{ratings} ratings from {raters} raters; {retained} retained from {raters_retained} raters "
        f"({excluded} excluded, {checks} trap/gold)."
    )


MONITOR_TITLE = "### Study monitor"
MONITOR_NO_FAILURES = "No rater or session fails a screening rule so far."


def monitor_summary(monitor: Any, updated: str) -> str:
    """The study monitor's lines (a `listening_tests.monitoring.StudyMonitor`), with the time they were read."""
    m = monitor
    return (
        f"{MONITOR_TITLE}\n\nStudy '{m.study_id}', read at {updated} (refreshed every few seconds).\n\n"
        f"- Sessions: {m.sessions_started} started, {m.sessions_finished} completed; {m.raters} raters have rated.\n"
        f"- Votes per stimulus (target {m.target}, {m.stimuli} stimuli): min {m.votes_min}, median "
        f"{m.votes_median:g}, max {m.votes_max}; {m.below_target} below the target."
        + ("" if m.failures else f"\n- {MONITOR_NO_FAILURES}")
    )


def with_findings(headline: str, findings: list[str]) -> str:
    """The results headline, then the report's findings (the gap per pair, warnings) as a Markdown list."""
    return headline + "".join(f"\n- {finding}" for finding in findings)


def alert(text: str) -> str:
    """A notice shown in the alert style (empty when there is nothing to say)."""
    return f'<p class="lab-notice" role="alert">{text}</p>' if text else ""
