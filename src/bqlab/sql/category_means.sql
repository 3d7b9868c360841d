-- Rows and mean label of each of the @top_values most frequent values of one categorical column
-- (for a numeric label).
SELECT {name} AS column_name, frequent.value AS value, COUNT(*) AS row_count, AVG(t.{label}) AS label_mean
FROM {table} AS t
JOIN (
  SELECT CAST({column} AS STRING) AS value
  FROM {table}
  WHERE {column} IS NOT NULL
  GROUP BY value
  ORDER BY COUNT(*) DESC, value
  LIMIT @top_values
) AS frequent ON CAST(t.{column} AS STRING) = frequent.value
GROUP BY column_name, value
