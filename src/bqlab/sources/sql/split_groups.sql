-- The grouped split: every row of one group ({group}, NULL: the row is a group of its own) lands on
-- the same side. Groups are ordered by FARM_FINGERPRINT of the seed and the group's value; at most
-- @max_rows rows are read, whole groups first by that hash. Each group has a stratum ({stratum}:
-- its most frequent class, or a quantile bin of its mean label); within a stratum, a group is held
-- out when the middle of its rows falls in the first test_fraction of the stratum's rows, taken in
-- hash order, which is as close to test_fraction per stratum as whole groups allow.
WITH units AS (
  SELECT *, FARM_FINGERPRINT(IFNULL(CONCAT(CAST(@seed AS STRING), '|', {group_text}),
      CONCAT('row#', CAST(bqlab_unit_hash AS STRING)))) AS bqlab_group_hash
  FROM ({units})
),
group_labels AS (
  SELECT bqlab_group_hash, {label} AS bqlab_label, COUNT(*) AS bqlab_rows
  FROM units
  GROUP BY bqlab_group_hash, bqlab_label
),
groups AS (
  SELECT bqlab_group_hash, SUM(bqlab_rows) AS bqlab_group_rows, {group_value} AS bqlab_group_value
  FROM group_labels
  GROUP BY bqlab_group_hash
),
bounded AS (
  SELECT * FROM (
    SELECT *, SUM(bqlab_group_rows) OVER (ORDER BY bqlab_group_hash ROWS UNBOUNDED PRECEDING) AS bqlab_read
    FROM groups
  )
  WHERE bqlab_read - bqlab_group_rows < @max_rows
),
strata AS (
  SELECT *, {stratum} AS bqlab_stratum FROM bounded
),
sides AS (
  SELECT bqlab_group_hash,
    2 * {buckets} * (SUM(bqlab_group_rows) OVER (PARTITION BY bqlab_stratum ORDER BY bqlab_group_hash
        ROWS UNBOUNDED PRECEDING) - bqlab_group_rows) + {buckets} * bqlab_group_rows
      < 2 * @test_buckets * SUM(bqlab_group_rows) OVER (PARTITION BY bqlab_stratum) AS split_is_test
  FROM strata
)
SELECT {columns}, split_is_test
FROM units JOIN sides USING (bqlab_group_hash)
ORDER BY bqlab_unit_hash
