-- Study analyses "distribution" and "time_to_first_study", step 1: the values to describe, in the temp table
-- #study_values (cohort_definition_id, subject_id, unit_id, value), from #study_images (StudyImages.sql).
--   @variable = time_to_first_study: one row per person: days from the person's index date (the earliest
--     cohort_start_date among the person's entries with matching images) to the person's first matching study
--     on or after it; a person whose matching studies all precede the index gets the closest one (a negative
--     number). unit_id is the person.
--   otherwise @variable is an image column (ct_slice_thickness, image_resolution_rows, image_resolution_columns):
--     one row per image with a value; unit_id is the image.
{DEFAULT @variable = ct_slice_thickness}

IF OBJECT_ID('tempdb..#study_values', 'U') IS NOT NULL DROP TABLE #study_values;

{@variable == time_to_first_study} ? {
WITH index_dates AS (
  SELECT cohort_definition_id,
    subject_id,
    MIN(cohort_start_date) AS index_date
  FROM #study_images
  GROUP BY cohort_definition_id,
    subject_id
),
study_days AS (
  SELECT DISTINCT i.cohort_definition_id,
    i.subject_id,
    DATEDIFF(day, d.index_date, i.radiology_occurrence_date) AS days
  FROM #study_images i
  INNER JOIN index_dates d
    ON d.cohort_definition_id = i.cohort_definition_id
    AND d.subject_id = i.subject_id
  WHERE i.radiology_occurrence_date IS NOT NULL
)
SELECT cohort_definition_id,
  subject_id,
  subject_id AS unit_id,
  CAST(COALESCE(MIN(CASE WHEN days >= 0 THEN days END), MAX(days)) AS FLOAT) AS value
INTO #study_values
FROM study_days
GROUP BY cohort_definition_id,
  subject_id;
} : {
SELECT DISTINCT cohort_definition_id,
  subject_id,
  radiology_image_id AS unit_id,
  CAST(@variable AS FLOAT) AS value
INTO #study_values
FROM #study_images
WHERE @variable IS NOT NULL;
}
