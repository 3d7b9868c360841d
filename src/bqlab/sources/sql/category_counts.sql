-- Per value of one categorical column, for its @top_values most frequent values: {per_value}
-- (rows per class, or rows and the mean of a numeric label), grouped by value{group}.
-- Placeholders (@missing_values) are missing data, not values.
SELECT {name} AS column_name, frequent.value AS value, {per_value}
FROM {table} AS t
JOIN (
  SELECT CAST({column} AS STRING) AS value
  FROM {table}
  WHERE {column} IS NOT NULL AND CAST({column} AS STRING) NOT IN UNNEST(@missing_values)
  GROUP BY value
  ORDER BY COUNT(*) DESC, value
  LIMIT @top_values
) AS frequent ON CAST(t.{column} AS STRING) = frequent.value
GROUP BY column_name, value{group}
