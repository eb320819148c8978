-- Empty the ETL work tables (at the start of each batch's transaction, and after a run).
{DEFAULT @cdm_database_schema = cdm}

DELETE FROM @cdm_database_schema.rcdm_etl_stage_image;
DELETE FROM @cdm_database_schema.rcdm_etl_stage_study;
DELETE FROM @cdm_database_schema.rcdm_etl_stage_order;
