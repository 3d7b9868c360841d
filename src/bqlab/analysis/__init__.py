"""What the notebooks call: queries, statistics, models, evaluation, figures and tables.

Notebooks import only this package and ``bqlab.sources``; the modules here import ``bqlab.sources``
and never the runner or the reports.
"""
