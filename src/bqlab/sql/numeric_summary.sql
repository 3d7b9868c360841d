-- Count, mean, spread, extremes and approximate quartiles of one numeric column per class.
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
GROUP BY class_value
