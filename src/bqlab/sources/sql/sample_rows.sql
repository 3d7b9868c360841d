-- A deterministic sample: the first @sample_rows rows by unit hash (the engine's native hash of the
-- seed, the row's values and its copy number; first_units), the same rows on every run, whatever
-- the table's order; copies of a row are sampled like any other rows.
SELECT {columns}
FROM ({units})
ORDER BY bqlab_unit_hash
