-- The labelled rows, each with a unit hash that tells apart every row, copies too: numbering the
-- copies of a row hash (any numbering: copies are interchangeable) and hashing again gives each
-- copy its own place, so copies spread over the split and the samples like any other rows, on
-- every engine and whatever the table's order. Used as a subquery by the grouped split, which
-- reads every row; the row split and the samples read only the first rows (first_units).
SELECT {columns}, FARM_FINGERPRINT(CONCAT(CAST(bqlab_row_hash AS STRING), '#',
    CAST(ROW_NUMBER() OVER (PARTITION BY bqlab_row_hash ORDER BY {order}) AS STRING))) AS bqlab_unit_hash
FROM ({rows})
