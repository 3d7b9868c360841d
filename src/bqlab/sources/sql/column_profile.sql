-- Missing values of one column: NULLs, placeholder strings (@placeholders, e.g. "."), values
-- that do not read as the type params cast the column to ({cast}), and how many values read
-- as numbers (a text column holding numbers is flagged).
SELECT
  {name} AS column_name,
  COUNT(*) AS row_count,
  COUNTIF({column} IS NULL) AS null_count,
  COUNTIF(CAST({column} AS STRING) IN UNNEST(@placeholders)) AS placeholder_count,
  COUNTIF({column} IS NOT NULL AND CAST({column} AS STRING) NOT IN UNNEST(@placeholders) AND {cast} IS NULL)
    AS cast_failed_count,
  COUNTIF(SAFE_CAST(TRIM(CAST({column} AS STRING)) AS FLOAT64) IS NOT NULL) AS numeric_text_count
FROM {table}
