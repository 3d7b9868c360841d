-- The labelled rows, each with its row key: the seed and its key columns as one text, so copies of
-- a row share it. Its FARM_FINGERPRINT is the row hash. Read by labelled_units (first_units builds
-- the same key).
SELECT {columns}, ARRAY_TO_STRING([CAST(@seed AS STRING), {key}], '|') AS bqlab_row_key
FROM {table}
WHERE {where}
