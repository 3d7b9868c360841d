"""The runner: what `make report` does around the notebooks.

It decides what to run from fingerprints (``fingerprint``), executes notebooks in warm kernels
(``execution``), keeps run folders and publishes them (``runs``), records where a run came from
(``provenance``) and checks the set-up (``doctor``); ``pipeline`` puts them together. Only the
CLI imports it.
"""
