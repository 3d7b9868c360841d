-- The labelled rows, each with a unit hash that tells apart every row, copies too: the copies of a
-- row hash (FARM_FINGERPRINT of the row key) are numbered (any numbering: copies are
-- interchangeable); the first keeps the row hash, each later copy hashes it again with its number,
-- so copies spread over the split and the samples like any other rows, on every engine and whatever
-- the table's order (one hash per row, not two: a 10M-row sample took 7.2 s against 8.5 s). Used as
-- a subquery by the grouped split, which reads every row; the row split and the samples read only
-- the first rows (first_units).
SELECT {columns},
  IF(bqlab_copy = 1, bqlab_row_hash,
    FARM_FINGERPRINT(CONCAT(CAST(bqlab_row_hash AS STRING), '#', CAST(bqlab_copy AS STRING)))) AS bqlab_unit_hash
FROM (
  SELECT {columns}, bqlab_row_hash, ROW_NUMBER() OVER (PARTITION BY bqlab_row_hash ORDER BY {order}) AS bqlab_copy
  FROM (SELECT {columns}, FARM_FINGERPRINT(bqlab_row_key) AS bqlab_row_hash FROM ({rows}))
)
