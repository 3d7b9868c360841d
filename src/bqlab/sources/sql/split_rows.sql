-- Labelled rows and their side of the train/test split, ordered by each row's hash; at most
-- @max_rows of them (the first by hash, so a bounded read is itself a deterministic sample).
-- The hash is FARM_FINGERPRINT of the seed and the row's key columns (label and features), so
-- a row's side depends on its values alone; rows in the lowest @test_buckets of {buckets}
-- hash buckets form the test side.
SELECT {columns}, MOD(MOD(row_hash, {buckets}) + {buckets}, {buckets}) < @test_buckets AS split_is_test
FROM (
  SELECT {columns}, FARM_FINGERPRINT(ARRAY_TO_STRING([CAST(@seed AS STRING), {key}], '|')) AS row_hash
  FROM {table}
  WHERE {label} IS NOT NULL AND CAST({label} AS STRING) NOT IN UNNEST(@missing_values)
)
ORDER BY row_hash
LIMIT @max_rows
