-- Rows per label value (NULL labels form their own group).
SELECT {label} AS class_value, COUNT(*) AS row_count
FROM {table}
GROUP BY class_value
ORDER BY row_count DESC, class_value
