-- The rows of one column's most frequent value, and its rows with a value (NULL left out): a
-- column whose one value fills (nearly) every row tells the rows apart no better than nothing.
SELECT {name} AS column_name, MAX(value_rows) AS top_rows, SUM(value_rows) AS present_rows
FROM (SELECT {column} AS value, COUNT(*) AS value_rows FROM {table} WHERE {column} IS NOT NULL GROUP BY value)
