-- Rows per (value, class) of one categorical column, for its @top_values most frequent values.
SELECT {name} AS column_name, frequent.value AS value, t.{label} AS class_value, COUNT(*) AS row_count
FROM {table} AS t
JOIN (
  SELECT CAST({column} AS STRING) AS value
  FROM {table}
  WHERE {column} IS NOT NULL
  GROUP BY value
  ORDER BY COUNT(*) DESC, value
  LIMIT @top_values
) AS frequent ON CAST(t.{column} AS STRING) = frequent.value
GROUP BY column_name, value, class_value
