-- Study analyses, step 1: the images of the study's cohorts that meet the study's image criteria, in the temp table
-- #study_images (one row per cohort entry and image). Person-level rows stay in the database: the Study*.sql
-- analyses aggregate this table, and StudyCleanup.sql drops it. OHDSI SQL (SqlRender-compatible).
-- Image criteria use the names of GetCohortImages.sql; list values are rendered as SQL literals (quoted codes
-- 'CT','MR' or plain numbers) by rcdm's Python side after validation, and an empty value ('') turns a filter off.
--   @cohort_ids              cohort_definition_id values of @cohort_database_schema.@cohort_table
--   @known_modalities        DICOM modality codes published as themselves; any other value becomes 'OTHER'
--   @modalities              image modality (the image's own; the study's where the image has none)
--   @protocol_concept_ids    radiology_occurrence.protocol_concept_id (with descendants when @include_descendants)
--   @body_parts              upper-case body_part_source_value values
--   @contrast_phases         'pre', 'post' (series_type_source_value 'pre:<rule>' / 'post:<rule>', or RID28833)
--   @planes                  'axial', 'coronal', 'sagittal', 'oblique'
--   @lateralities            'L', 'R', 'B', 'U'
--   @min_slice_thickness, @max_slice_thickness   inclusive bounds on ct_slice_thickness
--   @window_start, @window_end   days from @window_anchor (cohort_start_date or cohort_end_date) to the study date
-- Published categories only: modality codes, protocol concept ids (0 = none), years, plane and contrast phase
-- categories ('unknown' where the header gave none). No free text from DICOM headers enters #study_images.
{DEFAULT @cdm_database_schema = cdm}
{DEFAULT @vocabulary_database_schema = cdm}
{DEFAULT @cohort_database_schema = cdm}
{DEFAULT @cohort_table = cohort}
{DEFAULT @cohort_ids = 1}
{DEFAULT @known_modalities = "'CT','MR'"}
{DEFAULT @modalities = ''}
{DEFAULT @protocol_concept_ids = ''}
{DEFAULT @include_descendants = FALSE}
{DEFAULT @body_parts = ''}
{DEFAULT @contrast_phases = ''}
{DEFAULT @planes = ''}
{DEFAULT @lateralities = ''}
{DEFAULT @min_slice_thickness = ''}
{DEFAULT @max_slice_thickness = ''}
{DEFAULT @window_anchor = cohort_start_date}
{DEFAULT @window_start = ''}
{DEFAULT @window_end = ''}

IF OBJECT_ID('tempdb..#study_images', 'U') IS NOT NULL DROP TABLE #study_images;

WITH cohort_images AS (
  SELECT c.cohort_definition_id,
    c.subject_id,
    c.cohort_start_date,
    ro.radiology_occurrence_id,
    ro.radiology_occurrence_date,
    ri.radiology_image_id,
    CASE WHEN UPPER(COALESCE(ri.modality, ro.modality)) IN (@known_modalities)
      THEN UPPER(COALESCE(ri.modality, ro.modality)) ELSE 'OTHER' END AS modality,
    COALESCE(ro.protocol_concept_id, 0) AS protocol_concept_id,
    YEAR(ro.radiology_occurrence_date) AS occurrence_year,
    CASE WHEN LOWER(ri.anatomical_plane_source_value) IN ('axial', 'coronal', 'sagittal', 'oblique')
        THEN LOWER(ri.anatomical_plane_source_value)
      WHEN ri.anatomical_plane_concept_id = 'RID10579' THEN 'axial'
      WHEN ri.anatomical_plane_concept_id = 'RID10570' THEN 'coronal'
      WHEN ri.anatomical_plane_concept_id = 'RID10574' THEN 'sagittal'
      ELSE 'unknown' END AS anatomical_plane,
    CASE WHEN LOWER(ri.series_type_source_value) = 'pre' OR LOWER(ri.series_type_source_value) LIKE 'pre:%' THEN 'pre'
      WHEN LOWER(ri.series_type_source_value) = 'post' OR LOWER(ri.series_type_source_value) LIKE 'post:%' THEN 'post'
      WHEN ri.series_type_concept_id = 'RID28833' THEN 'pre'
      ELSE 'unknown' END AS contrast_phase,
    UPPER(ri.body_part_source_value) AS body_part,
    UPPER(ri.laterality_source_value) AS laterality,
    CAST(ri.ct_slice_thickness AS FLOAT) AS ct_slice_thickness,
    ri.image_resolution_rows,
    ri.image_resolution_columns,
    DATEDIFF(day, c.@window_anchor, ro.radiology_occurrence_date) AS days_from_anchor
  FROM @cohort_database_schema.@cohort_table c
  INNER JOIN @cdm_database_schema.radiology_occurrence ro
    ON ro.person_id = c.subject_id
  INNER JOIN @cdm_database_schema.radiology_image ri
    ON ri.radiology_occurrence_id = ro.radiology_occurrence_id
  WHERE c.cohort_definition_id IN (@cohort_ids)
)
SELECT cohort_definition_id,
  subject_id,
  cohort_start_date,
  radiology_occurrence_id,
  radiology_occurrence_date,
  radiology_image_id,
  modality,
  protocol_concept_id,
  occurrence_year,
  anatomical_plane,
  contrast_phase,
  ct_slice_thickness,
  image_resolution_rows,
  image_resolution_columns
INTO #study_images
FROM cohort_images
WHERE 1 = 1
{@modalities != ''} ? {  AND modality IN (@modalities)
}
{@protocol_concept_ids != ''} ? {
{@include_descendants} ? {
  AND protocol_concept_id IN (
    SELECT ca.descendant_concept_id
    FROM @vocabulary_database_schema.concept_ancestor ca
    WHERE ca.ancestor_concept_id IN (@protocol_concept_ids)
    UNION
    SELECT cp.concept_id
    FROM @vocabulary_database_schema.concept cp
    WHERE cp.concept_id IN (@protocol_concept_ids)
  )
} : {
  AND protocol_concept_id IN (@protocol_concept_ids)
}
}
{@body_parts != ''} ? {  AND body_part IN (@body_parts)
}
{@contrast_phases != ''} ? {  AND contrast_phase IN (@contrast_phases)
}
{@planes != ''} ? {  AND anatomical_plane IN (@planes)
}
{@lateralities != ''} ? {  AND laterality IN (@lateralities)
}
{@min_slice_thickness != ''} ? {  AND ct_slice_thickness >= @min_slice_thickness
}
{@max_slice_thickness != ''} ? {  AND ct_slice_thickness <= @max_slice_thickness
}
{@window_start != ''} ? {  AND days_from_anchor >= @window_start
}
{@window_end != ''} ? {  AND days_from_anchor <= @window_end
}
;
