-- Count, mean, spread, extremes and approximate quartiles of one numeric column, per class
-- ({group} is "GROUP BY class_value") or over all rows (empty {group}, {label} a constant).
SELECT
  {label} AS class_value,
  {name} AS column_name,
  COUNT({column}) AS value_count,
  AVG({column}) AS mean,
  STDDEV_SAMP({column}) AS std,
  MIN({column}) AS min,
  APPROX_QUANTILES({column}, 4) AS quartiles,
  MAX({column}) AS max
FROM {table}
{group}
