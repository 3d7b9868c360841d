-- Number of rows of the analysed table (metadata only in BigQuery: no bytes billed).
SELECT COUNT(*) AS row_count
FROM {table}
