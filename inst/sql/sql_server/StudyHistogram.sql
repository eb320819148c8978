-- Study analyses "distribution" and "time_to_first_study": binned counts of #study_values (StudyValues.sql).
-- Bins come from the temp table #study_bins (analysis_id, bin_index, bin_lower, bin_upper): a value v is in a bin
-- when bin_lower <= v < bin_upper; a NULL bound is open. Only bins holding values are returned.
{DEFAULT @analysis_id = distribution}

SELECT v.cohort_definition_id,
  b.bin_index,
  COUNT_BIG(DISTINCT v.subject_id) AS persons,
  COUNT_BIG(DISTINCT v.unit_id) AS units
FROM #study_values v
INNER JOIN #study_bins b
  ON b.analysis_id = '@analysis_id'
  AND (b.bin_lower IS NULL OR v.value >= b.bin_lower)
  AND (b.bin_upper IS NULL OR v.value < b.bin_upper)
GROUP BY v.cohort_definition_id,
  b.bin_index
ORDER BY v.cohort_definition_id,
  b.bin_index;
