-- Pearson correlation of each pair of numeric columns, in one scan.
SELECT {pairs}
FROM {table}
