-- rcdm vocab remap, step 1: the work tables, and one row per study with its matching key. The key is the
-- study's protocol_source_value plus what its images say about contrast (pre / post, when all images with a
-- phase agree) and laterality (L / R / B); '-' stands for "none" so that every key column is NOT NULL and the
-- joins below are plain equalities on every dialect (Oracle reads '' as NULL, so '' is never used).
-- The tables are dropped again by RemapApply.sql, in the same transaction.
{DEFAULT @cdm_database_schema = cdm}

IF OBJECT_ID('@cdm_database_schema.rcdm_remap_study', 'U') IS NOT NULL
DROP TABLE @cdm_database_schema.rcdm_remap_study;

IF OBJECT_ID('@cdm_database_schema.rcdm_remap_key', 'U') IS NOT NULL
DROP TABLE @cdm_database_schema.rcdm_remap_key;

CREATE TABLE @cdm_database_schema.rcdm_remap_study (
  radiology_occurrence_id BIGINT NOT NULL,
  protocol_source_value VARCHAR(255) NOT NULL,
  contrast VARCHAR(10) NOT NULL,
  laterality VARCHAR(10) NOT NULL,
  concept_id INTEGER NULL
);

CREATE TABLE @cdm_database_schema.rcdm_remap_key (
  protocol_source_value VARCHAR(255) NOT NULL,
  contrast VARCHAR(10) NOT NULL,
  laterality VARCHAR(10) NOT NULL,
  concept_id INTEGER NOT NULL
);

INSERT INTO @cdm_database_schema.rcdm_remap_study (radiology_occurrence_id, protocol_source_value, contrast,
  laterality, concept_id)
SELECT o.radiology_occurrence_id,
  CASE WHEN LEN(RTRIM(o.protocol_source_value)) > 0 THEN o.protocol_source_value ELSE '-' END,
  CASE WHEN a.pre_images > 0 AND a.post_images = 0 THEN 'pre'
       WHEN a.post_images > 0 AND a.pre_images = 0 THEN 'post'
       ELSE '-' END,
  CASE WHEN a.left_images > 0 AND a.right_images = 0 AND a.both_images = 0 THEN 'L'
       WHEN a.right_images > 0 AND a.left_images = 0 AND a.both_images = 0 THEN 'R'
       WHEN a.both_images > 0 OR (a.left_images > 0 AND a.right_images > 0) THEN 'B'
       ELSE '-' END,
  NULL
FROM @cdm_database_schema.radiology_occurrence o
LEFT JOIN (
  SELECT radiology_occurrence_id,
    SUM(CASE WHEN series_type_source_value LIKE 'pre:%' THEN 1 ELSE 0 END) AS pre_images,
    SUM(CASE WHEN series_type_source_value LIKE 'post:%' THEN 1 ELSE 0 END) AS post_images,
    SUM(CASE WHEN laterality_source_value = 'L' THEN 1 ELSE 0 END) AS left_images,
    SUM(CASE WHEN laterality_source_value = 'R' THEN 1 ELSE 0 END) AS right_images,
    SUM(CASE WHEN laterality_source_value = 'B' THEN 1 ELSE 0 END) AS both_images
  FROM @cdm_database_schema.radiology_image
  GROUP BY radiology_occurrence_id
) a ON a.radiology_occurrence_id = o.radiology_occurrence_id;
