-- Persons whose rows in #study_images (StudyImages.sql) differ between cohorts @cohort_a and @cohort_b: in one
-- and not the other, or with other images or index dates. Every published cell of one cohort minus the same cell
-- of the other counts some of these persons, so rcdm refuses a zip where 0 < persons < min_cell_count.
{DEFAULT @cohort_a = 1}
{DEFAULT @cohort_b = 2}
WITH a AS (
  SELECT DISTINCT subject_id, radiology_image_id, cohort_start_date
  FROM #study_images
  WHERE cohort_definition_id = @cohort_a
),
b AS (
  SELECT DISTINCT subject_id, radiology_image_id, cohort_start_date
  FROM #study_images
  WHERE cohort_definition_id = @cohort_b
),
only_a AS (
  SELECT subject_id, radiology_image_id, cohort_start_date FROM a
  EXCEPT
  SELECT subject_id, radiology_image_id, cohort_start_date FROM b
),
only_b AS (
  SELECT subject_id, radiology_image_id, cohort_start_date FROM b
  EXCEPT
  SELECT subject_id, radiology_image_id, cohort_start_date FROM a
),
differing AS (
  SELECT subject_id FROM only_a
  UNION
  SELECT subject_id FROM only_b
)
SELECT COUNT(*) AS persons
FROM differing;
