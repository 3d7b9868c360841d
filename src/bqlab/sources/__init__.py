"""Where data comes from: the table as the analysis sees it, on either engine.

(The engines themselves, ``bqlab.embedded`` and ``bqlab.bigquery``, move here with the next
reshaping of the package; new source code goes here already.)
"""
