"""What a reader sees: each notebook's HTML reports, the index, and the comparison of two runs.

``render`` (nbconvert and the index), ``header`` (the blocks that open and close a report),
``findings`` (the summary written from a run's metrics), ``compare`` and ``trends``.
"""
