"""Offline speech corpus. Reading mixture lists: `ddpmss.corpus.librimix`; making data: the other modules.

Kept empty on purpose: importing `ddpmss.corpus.librimix` must not load the TTS generator.
"""
