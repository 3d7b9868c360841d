"""What a reader sees besides each notebook's report: the comparison of two runs.

(The report modules of the flat package, render, header, findings and the index, move here
with the next reshaping of the package; new report code goes here already.)
"""
