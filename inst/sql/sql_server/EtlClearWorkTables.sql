-- Empty the ETL work tables (after a finalize, and after a run).
{DEFAULT @cdm_database_schema = cdm}

DELETE FROM @cdm_database_schema.rcdm_etl_stage_image;
DELETE FROM @cdm_database_schema.rcdm_etl_stage_key;
DELETE FROM @cdm_database_schema.rcdm_etl_stage_study;
DELETE FROM @cdm_database_schema.rcdm_etl_stage_order;
DELETE FROM @cdm_database_schema.rcdm_etl_stage_count;
DELETE FROM @cdm_database_schema.rcdm_etl_stage_file;
