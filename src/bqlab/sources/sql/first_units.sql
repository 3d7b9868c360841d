-- The first rows of labelled_units by unit hash (as many as the LIMIT's parameter), the same rows
-- and unit hashes, without numbering the copies of every row with all its columns (a window over
-- every row, which holds the whole table: 1.6 GB at 10M rows). The copies are numbered over the row
-- hash ({row_hash}: as labelled_rows' row key by default) alone, the first units kept by hash,
-- and only the rows of those hashes are read again with their columns and numbered the same way
-- (copies that differ outside the key are numbered in the order of their columns, so a unit is
-- always the same row). A first copy's unit hash is its row hash, another's {copy_hash}, as in
-- labelled_units. Used as a subquery by the row split and the samples.
-- The second read hashes only the rows whose {check} is among the first units' checks: equal
-- for rows whose keys are equal, and cheap where the row hash is not (on the embedded engine,
-- FARM_FINGERPRINT is a Python function and the key's text is built per row), so the rows are the same.
WITH first_units AS (
  SELECT bqlab_row_hash, bqlab_row_check, bqlab_copy,
    IF(bqlab_copy = 1, bqlab_row_hash, {copy_hash}) AS bqlab_unit_hash
  FROM (
    SELECT bqlab_row_hash, bqlab_row_check, ROW_NUMBER() OVER (PARTITION BY bqlab_row_hash) AS bqlab_copy
    FROM (
      SELECT {row_hash} AS bqlab_row_hash, {check} AS bqlab_row_check
      FROM {table}
      WHERE {where}
    )
  )
  ORDER BY bqlab_unit_hash
  LIMIT {limit}
)
SELECT {columns}, bqlab_unit_hash
FROM (
  SELECT {columns}, bqlab_row_hash,
    ROW_NUMBER() OVER (PARTITION BY bqlab_row_hash ORDER BY {order}) AS bqlab_copy
  FROM (
    SELECT {columns}, {row_hash} AS bqlab_row_hash
    FROM {table}
    WHERE ({where}) AND {check} IN (SELECT bqlab_row_check FROM first_units)
  )
  WHERE bqlab_row_hash IN (SELECT bqlab_row_hash FROM first_units)
) JOIN first_units USING (bqlab_row_hash, bqlab_copy)
