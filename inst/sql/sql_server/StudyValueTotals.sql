-- Study analyses "distribution" and "time_to_first_study": persons and units with a value in #study_values
-- (StudyValues.sql) per cohort: the "(all)" row of the published table. Quantiles are not computed from values:
-- rcdm publishes them only as the fixed bins that hold them (rcdm.study_privacy.quantile_bins).
SELECT cohort_definition_id,
  COUNT_BIG(DISTINCT subject_id) AS persons,
  COUNT_BIG(DISTINCT unit_id) AS units
FROM #study_values
GROUP BY cohort_definition_id
ORDER BY cohort_definition_id;
