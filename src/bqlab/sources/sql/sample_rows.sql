-- A deterministic sample: the first @sample_rows rows by FARM_FINGERPRINT of the seed and the
-- row's values, so the same rows come back on every run and engine, whatever the table's order.
SELECT {columns}
FROM {table}
ORDER BY FARM_FINGERPRINT(ARRAY_TO_STRING([CAST(@seed AS STRING), {key}], '|'))
LIMIT @sample_rows
