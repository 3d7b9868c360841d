-- The labelled rows, each with a unit hash that tells apart every row, copies too. A row's hash is
-- FARM_FINGERPRINT of the seed and its key columns, so copies of a row share it; numbering the
-- copies (any numbering: copies are interchangeable) and hashing again gives each copy its own
-- place, so copies spread over the split and the samples like any other rows, on every engine
-- and whatever the table's order. Used as a subquery by the split and the sample.
SELECT {columns}, FARM_FINGERPRINT(CONCAT(CAST(bqlab_row_hash AS STRING), '#',
    CAST(ROW_NUMBER() OVER (PARTITION BY bqlab_row_hash ORDER BY {order}) AS STRING))) AS bqlab_unit_hash
FROM (
  SELECT {columns}, FARM_FINGERPRINT(ARRAY_TO_STRING([CAST(@seed AS STRING), {key}], '|')) AS bqlab_row_hash
  FROM {table}
  WHERE {where}
)
