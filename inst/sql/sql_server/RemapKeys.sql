-- rcdm vocab remap, step 2: the distinct matching keys (each is matched once, in Python) and their studies.
{DEFAULT @cdm_database_schema = cdm}

SELECT protocol_source_value, contrast, laterality, COUNT(*) AS studies
FROM @cdm_database_schema.rcdm_remap_study
GROUP BY protocol_source_value, contrast, laterality;
