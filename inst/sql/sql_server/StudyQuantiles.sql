-- Study analyses "distribution" and "time_to_first_study": count, min, p10, p25, median, p75, p90 and max of
-- #study_values (StudyValues.sql) per cohort, with portable SQL (OHDSI Achilles' method: the pXX value is the
-- smallest value whose running count reaches XX% of the units). rcdm publishes them only for cohorts with at
-- least min_cell_count persons.
WITH value_counts AS (
  SELECT cohort_definition_id,
    value,
    COUNT_BIG(*) AS n
  FROM #study_values
  GROUP BY cohort_definition_id,
    value
),
running AS (
  SELECT cohort_definition_id,
    value,
    SUM(n) OVER (PARTITION BY cohort_definition_id ORDER BY value ROWS UNBOUNDED PRECEDING) AS accumulated
  FROM value_counts
),
overall AS (
  SELECT cohort_definition_id,
    COUNT_BIG(DISTINCT subject_id) AS persons,
    COUNT_BIG(*) AS units,
    MIN(value) AS min_value,
    MAX(value) AS max_value
  FROM #study_values
  GROUP BY cohort_definition_id
)
SELECT o.cohort_definition_id,
  o.persons,
  o.units,
  o.min_value,
  MIN(CASE WHEN r.accumulated >= 0.10 * o.units THEN r.value END) AS p10_value,
  MIN(CASE WHEN r.accumulated >= 0.25 * o.units THEN r.value END) AS p25_value,
  MIN(CASE WHEN r.accumulated >= 0.50 * o.units THEN r.value END) AS median_value,
  MIN(CASE WHEN r.accumulated >= 0.75 * o.units THEN r.value END) AS p75_value,
  MIN(CASE WHEN r.accumulated >= 0.90 * o.units THEN r.value END) AS p90_value,
  o.max_value
FROM overall o
INNER JOIN running r
  ON r.cohort_definition_id = o.cohort_definition_id
GROUP BY o.cohort_definition_id,
  o.persons,
  o.units,
  o.min_value,
  o.max_value
ORDER BY o.cohort_definition_id;
