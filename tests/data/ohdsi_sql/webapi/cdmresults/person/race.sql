SELECT
  c1.concept_id   AS conceptId,
  c1.concept_name AS conceptName,
  ar1.count_value AS countValue
FROM @results_database_schema.achilles_results ar1
INNER JOIN
@vocab_database_schema.concept c1
ON ar1.stratum_1 = CAST(c1.concept_id AS VARCHAR(255))
WHERE ar1.analysis_id = 4
