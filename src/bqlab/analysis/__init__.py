"""What the notebooks call beyond data access: decisions about the label, the task and the figures.

(The modules of the flat package that notebooks call move here with the next reshaping of the
package; new analysis code goes here already.)
"""
