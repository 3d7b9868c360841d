-- The labelled rows, each with its row hash: FARM_FINGERPRINT of the seed and its key columns, so
-- copies of a row share it. Read by labelled_units and first_units.
SELECT {columns}, FARM_FINGERPRINT(ARRAY_TO_STRING([CAST(@seed AS STRING), {key}], '|')) AS bqlab_row_hash
FROM {table}
WHERE {where}
