-- Images of a cohort: the R-CDM images of the cohort's persons, with optional filters (OHDSI SQL for SqlRender).
-- One row per (cohort entry, image); @counts_only = TRUE gives counts instead: one row per image modality plus a
-- row '(all)' (persons, studies, series, images).
-- List parameters are rendered as SQL literals: quoted codes ('CT','MR') or plain numbers (3004287,3002086);
-- an empty value ('') turns that filter off. rcdm's Python side validates every value before rendering.
-- Filters:
--   @modalities              image modality (the image's own modality; the study's where the image has none)
--   @protocol_concept_ids    radiology_occurrence.protocol_concept_id, with their descendants through
--                            @vocabulary_database_schema.concept_ancestor when @include_descendants = TRUE
--   @body_parts              upper-case body_part_source_value values
--   @contrast_phases         'pre' / 'post': the phase in series_type_source_value ('pre:<rule>', 'post:<rule>'
--                            as rcdm's ETL writes it, or a bare 'pre' / 'post'), else series_type_concept_id
--                            RID28833 (RadLex pre-contrast) means 'pre'
--   @planes                  'axial', 'coronal', 'sagittal', 'oblique': anatomical_plane_source_value, else
--                            anatomical_plane_concept_id RID10579 (RadLex axial plane) means 'axial'
--   @lateralities            'L', 'R', 'B', 'U': laterality_source_value
--   @min_slice_thickness, @max_slice_thickness   ct_slice_thickness bounds (inclusive)
--   @window_start, @window_end   days from @window_anchor (cohort_start_date or cohort_end_date) to the study
--                                date, inclusive
--   @first_study_only        TRUE: per person, only the earliest study (date, then id) that has a matching image
-- Access path: cohort rows, then radiology_occurrence by person_id, then radiology_image by radiology_occurrence_id
-- (both indexed by rcdm_indices.sql).
{DEFAULT @cdm_database_schema = cdm}
{DEFAULT @vocabulary_database_schema = cdm}
{DEFAULT @cohort_database_schema = cdm}
{DEFAULT @cohort_table = cohort}
{DEFAULT @cohort_definition_id = 1}
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
{DEFAULT @first_study_only = FALSE}
{DEFAULT @counts_only = FALSE}

WITH cohort_entries AS (
  SELECT c.cohort_definition_id,
    c.subject_id,
    c.cohort_start_date,
    c.cohort_end_date
  FROM @cohort_database_schema.@cohort_table c
  WHERE c.cohort_definition_id = @cohort_definition_id
),
cohort_studies AS (
  SELECT c.cohort_definition_id,
    c.subject_id,
    c.cohort_start_date,
    c.cohort_end_date,
    ro.radiology_occurrence_id,
    ro.radiology_occurrence_date,
    ro.radiology_occurrence_datetime,
    ro.modality AS study_modality,
    ro.protocol_concept_id,
    ro.protocol_source_value,
    DATEDIFF(day, c.@window_anchor, ro.radiology_occurrence_date) AS days_from_anchor
  FROM cohort_entries c
  INNER JOIN @cdm_database_schema.radiology_occurrence ro
    ON ro.person_id = c.subject_id
  WHERE 1 = 1
  {@window_start != ''} ? {  AND DATEDIFF(day, c.@window_anchor, ro.radiology_occurrence_date) >= @window_start
  }
  {@window_end != ''} ? {  AND DATEDIFF(day, c.@window_anchor, ro.radiology_occurrence_date) <= @window_end
  }
  {@protocol_concept_ids != ''} ? {
  {@include_descendants} ? {
  AND (ro.protocol_concept_id IN (@protocol_concept_ids)
    OR ro.protocol_concept_id IN (
      SELECT ca.descendant_concept_id
      FROM @vocabulary_database_schema.concept_ancestor ca
      WHERE ca.ancestor_concept_id IN (@protocol_concept_ids)))
  } : {
  AND ro.protocol_concept_id IN (@protocol_concept_ids)
  }
  }
),
cohort_images AS (
  SELECT *
  FROM (
    SELECT s.cohort_definition_id,
      s.subject_id,
      s.cohort_start_date,
      s.cohort_end_date,
      s.radiology_occurrence_id,
      s.radiology_occurrence_date,
      s.radiology_occurrence_datetime,
      s.study_modality,
      s.protocol_concept_id,
      s.protocol_source_value,
      s.days_from_anchor,
      ri.radiology_series_id,
      ri.radiology_image_id,
      ri.file_path,
      COALESCE(ri.modality, s.study_modality) AS modality,
      ri.body_part_source_value,
      CASE WHEN ri.anatomical_plane_source_value IS NOT NULL THEN LOWER(ri.anatomical_plane_source_value)
        WHEN ri.anatomical_plane_concept_id = 'RID10579' THEN 'axial'
        ELSE NULL END AS anatomical_plane,
      CASE WHEN LOWER(ri.series_type_source_value) = 'pre' OR LOWER(ri.series_type_source_value) LIKE 'pre:%' THEN 'pre'
        WHEN LOWER(ri.series_type_source_value) = 'post' OR LOWER(ri.series_type_source_value) LIKE 'post:%' THEN 'post'
        WHEN ri.series_type_concept_id = 'RID28833' THEN 'pre'
        ELSE NULL END AS contrast_phase,
      UPPER(ri.laterality_source_value) AS laterality,
      ri.anatomical_plane_concept_id,
      ri.series_type_concept_id,
      ri.series_type_source_value,
      ri.laterality_concept_id,
      ri.ct_slice_thickness,
      ri.series_serial_number,
      ri.series_total_number,
      ri.instance_number,
      ri.image_resolution_rows,
      ri.image_resolution_columns
    FROM cohort_studies s
    INNER JOIN @cdm_database_schema.radiology_image ri
      ON ri.radiology_occurrence_id = s.radiology_occurrence_id
    WHERE 1 = 1
    {@modalities != ''} ? {    AND COALESCE(ri.modality, s.study_modality) IN (@modalities)
    }
    {@body_parts != ''} ? {    AND UPPER(ri.body_part_source_value) IN (@body_parts)
    }
    {@lateralities != ''} ? {    AND UPPER(ri.laterality_source_value) IN (@lateralities)
    }
    {@min_slice_thickness != ''} ? {    AND ri.ct_slice_thickness >= @min_slice_thickness
    }
    {@max_slice_thickness != ''} ? {    AND ri.ct_slice_thickness <= @max_slice_thickness
    }
  ) images
  WHERE 1 = 1
  {@contrast_phases != ''} ? {  AND images.contrast_phase IN (@contrast_phases)
  }
  {@planes != ''} ? {  AND images.anatomical_plane IN (@planes)
  }
){@first_study_only} ? {,
matching_studies AS (
  SELECT DISTINCT subject_id,
    cohort_start_date,
    radiology_occurrence_id,
    radiology_occurrence_date
  FROM cohort_images
),
ranked_studies AS (
  SELECT subject_id,
    cohort_start_date,
    radiology_occurrence_id,
    ROW_NUMBER() OVER (PARTITION BY subject_id
      ORDER BY CASE WHEN radiology_occurrence_date IS NULL THEN 1 ELSE 0 END, radiology_occurrence_date,
        radiology_occurrence_id, cohort_start_date) AS study_rank
  FROM matching_studies
),
selected_images AS (
  SELECT i.*
  FROM cohort_images i
  INNER JOIN ranked_studies r
    ON r.subject_id = i.subject_id
    AND r.cohort_start_date = i.cohort_start_date
    AND r.radiology_occurrence_id = i.radiology_occurrence_id
  WHERE r.study_rank = 1
)} : {,
selected_images AS (
  SELECT *
  FROM cohort_images
)}
{@counts_only} ? {
SELECT '(all)' AS modality,
  COUNT(DISTINCT subject_id) AS persons,
  COUNT(DISTINCT radiology_occurrence_id) AS studies,
  COUNT(DISTINCT radiology_series_id) AS series,
  COUNT(DISTINCT radiology_image_id) AS images
FROM selected_images
UNION ALL
SELECT modality,
  COUNT(DISTINCT subject_id) AS persons,
  COUNT(DISTINCT radiology_occurrence_id) AS studies,
  COUNT(DISTINCT radiology_series_id) AS series,
  COUNT(DISTINCT radiology_image_id) AS images
FROM selected_images
GROUP BY modality;
} : {
SELECT subject_id AS person_id,
  cohort_definition_id,
  cohort_start_date,
  cohort_end_date,
  radiology_occurrence_id,
  radiology_occurrence_date,
  radiology_occurrence_datetime,
  days_from_anchor,
  study_modality,
  protocol_concept_id,
  protocol_source_value,
  radiology_series_id,
  radiology_image_id,
  file_path,
  modality,
  body_part_source_value,
  anatomical_plane,
  contrast_phase,
  laterality,
  anatomical_plane_concept_id,
  series_type_concept_id,
  series_type_source_value,
  laterality_concept_id,
  ct_slice_thickness,
  series_serial_number,
  series_total_number,
  instance_number,
  image_resolution_rows,
  image_resolution_columns
FROM selected_images
ORDER BY subject_id, cohort_start_date, radiology_occurrence_date, radiology_occurrence_id, radiology_series_id,
  series_serial_number, radiology_image_id;
}
