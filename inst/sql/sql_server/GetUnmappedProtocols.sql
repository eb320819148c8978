-- The distinct protocol_source_values of the studies left unmapped (protocol_concept_id NULL or 0), with how
-- many studies and images each covers. rcdm.protocols.unmapped ranks them and writes Usagi's import file.
-- Studies without a protocol_source_value have nothing to map and are left out.
{DEFAULT @cdm_database_schema = cdm}

SELECT o.protocol_source_value,
  COUNT(*) AS studies,
  SUM(COALESCE(i.image_count, 0)) AS images
FROM @cdm_database_schema.radiology_occurrence o
LEFT JOIN (
  SELECT radiology_occurrence_id, COUNT(*) AS image_count
  FROM @cdm_database_schema.radiology_image
  GROUP BY radiology_occurrence_id
) i ON i.radiology_occurrence_id = o.radiology_occurrence_id
WHERE COALESCE(o.protocol_concept_id, 0) = 0
  AND LEN(RTRIM(o.protocol_source_value)) > 0
GROUP BY o.protocol_source_value;
