-- Missing values of one column: NULLs, placeholder strings (@placeholders, e.g. "."), values
-- that do not read as the type params cast the column to ({cast}), and how many values read
-- as numbers (a text column holding numbers is flagged), and how many read as numbers only once
-- their separators are named (3,750 or 12,5: column_types can say which). Those two are counted
-- for a column stored as text (queries._number_text_counts); any other writes 0 (casting every
-- number of a 10M-row table to text took a third of the profile's time).
SELECT
  {name} AS column_name,
  COUNT(*) AS row_count,
  COUNTIF({column} IS NULL) AS null_count,
  COUNTIF(CAST({column} AS STRING) IN UNNEST(@placeholders)) AS placeholder_count,
  COUNTIF({column} IS NOT NULL AND CAST({column} AS STRING) NOT IN UNNEST(@placeholders) AND {cast} IS NULL)
    AS cast_failed_count,
  {numeric_text} AS numeric_text_count,
  {separated_number} AS separated_number_count
FROM {table}
