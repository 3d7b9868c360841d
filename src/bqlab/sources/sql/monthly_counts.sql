-- Rows per month of one date column ({day}: its DATE), and per label value ({label}: the class as
-- text, or '' for a number), with the label's sum for a number; rows without a date are left out.
SELECT FORMAT_DATE('%Y-%m', {day}) AS month, {label} AS class_value, COUNT(*) AS row_count,
  SUM({number}) AS label_sum, COUNT({number}) AS label_count
FROM {table}
WHERE {day} IS NOT NULL
GROUP BY month, class_value
ORDER BY month, class_value
