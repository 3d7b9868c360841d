-- The row-level stratified split: labelled rows and their side, ordered by each row's unit hash.
-- At most @max_rows rows are read (the first by unit hash, first_units: a deterministic sample). Within each
-- stratum ({stratum}: the class, or a quantile bin of a numeric label) the rows are ranked by unit
-- hash and the first {quota} of them are the test side: test_fraction (@test_buckets of {buckets})
-- of the stratum's rows, rounded half up, so each class's held-out share is the one params ask.
WITH bounded AS (
  {units}
),
strata AS (
  SELECT *, {stratum} AS bqlab_stratum FROM bounded
),
ranked AS (
  SELECT *,
    ROW_NUMBER() OVER (PARTITION BY bqlab_stratum ORDER BY bqlab_unit_hash) AS bqlab_rank,
    COUNT(*) OVER (PARTITION BY bqlab_stratum) AS bqlab_stratum_rows,
    {rows_through} AS bqlab_rows_through
  FROM strata
)
SELECT {columns}, bqlab_rank <= {quota} AS split_is_test
FROM ranked
ORDER BY bqlab_unit_hash
