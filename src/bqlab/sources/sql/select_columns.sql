-- Rows of the analysed table, restricted to the columns the analysis uses.
SELECT {columns}
FROM {table}
