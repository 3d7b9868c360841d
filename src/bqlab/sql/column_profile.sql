-- Missing values of one column: NULLs and placeholder strings (@placeholders, e.g. ".").
SELECT
  {name} AS column_name,
  COUNT(*) AS row_count,
  COUNTIF({column} IS NULL) AS null_count,
  COUNTIF(CAST({column} AS STRING) IN UNNEST(@placeholders)) AS placeholder_count
FROM {table}
