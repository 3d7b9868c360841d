-- Distinct non-NULL values of each column, in one scan.
SELECT {counts}
FROM {table}
