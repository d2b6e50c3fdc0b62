"""Stimulus sets: reading a built set (manifest.py) and building one from mixtures (build.py).

Building needs the pipelines and the offline TTS voice of the trapping clips (controls.py); reading
needs neither, so this package's own names are only the reading side.
"""

from listening_tests.stimuli.manifest import (
    MANIFEST_COLUMNS,
    TRIALS_COLUMNS,
    BuildError,
    Stimulus,
    StimulusSet,
    Trial,
    load_stimulus_set,
    read_manifest,
)

__all__ = [
    "MANIFEST_COLUMNS",
    "TRIALS_COLUMNS",
    "BuildError",
    "Stimulus",
    "StimulusSet",
    "Trial",
    "load_stimulus_set",
    "read_manifest",
]
