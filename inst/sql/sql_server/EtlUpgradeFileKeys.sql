-- Convert the rcdm_etl_file of a schema written when file keys were 64-character hex digests (VARCHAR) to
-- BIGINT keys, in place and in one transaction (rcdm.etl.load.upgrade_file_keys). Step 'copy' copies the rows
-- aside with the new key and drops the old tables; rcdm then creates them again (inst/ddl/etl_ddl.sql with its
-- indexes, EtlCreateWorkTables.sql); step 'restore' moves the rows back. The new key is what
-- rcdm.etl.transform.file_ids makes of the same digest: its first 16 hex digits d1..d16 read as a 64-bit number,
-- shifted right by one bit, i.e. d1 * 2^59 + d2 * 2^55 + ... + d15 * 2^3 + floor(d16 / 2) (the last term
-- written without a division, whose rounding differs across dialects); 0 becomes 1. Portable SQL only:
-- CHARINDEX, SUBSTRING and BIGINT arithmetic that never exceeds 2^63 - 1. The key is read as text (CAST), so the
-- statement also binds on an empty table already made with BIGINT keys (rcdm cannot tell an empty table's type
-- from its rows and simply makes it again).
{DEFAULT @cdm_database_schema = cdm}
{DEFAULT @step = copy}

{@step == copy} ? {
SELECT
  CAST(CHARINDEX(SUBSTRING(f.hex, 1, 1), '0123456789abcdef') - 1 AS BIGINT) * 576460752303423488
    + CAST(CHARINDEX(SUBSTRING(f.hex, 2, 1), '0123456789abcdef') - 1 AS BIGINT) * 36028797018963968
    + CAST(CHARINDEX(SUBSTRING(f.hex, 3, 1), '0123456789abcdef') - 1 AS BIGINT) * 2251799813685248
    + CAST(CHARINDEX(SUBSTRING(f.hex, 4, 1), '0123456789abcdef') - 1 AS BIGINT) * 140737488355328
    + CAST(CHARINDEX(SUBSTRING(f.hex, 5, 1), '0123456789abcdef') - 1 AS BIGINT) * 8796093022208
    + CAST(CHARINDEX(SUBSTRING(f.hex, 6, 1), '0123456789abcdef') - 1 AS BIGINT) * 549755813888
    + CAST(CHARINDEX(SUBSTRING(f.hex, 7, 1), '0123456789abcdef') - 1 AS BIGINT) * 34359738368
    + CAST(CHARINDEX(SUBSTRING(f.hex, 8, 1), '0123456789abcdef') - 1 AS BIGINT) * 2147483648
    + CAST(CHARINDEX(SUBSTRING(f.hex, 9, 1), '0123456789abcdef') - 1 AS BIGINT) * 134217728
    + CAST(CHARINDEX(SUBSTRING(f.hex, 10, 1), '0123456789abcdef') - 1 AS BIGINT) * 8388608
    + CAST(CHARINDEX(SUBSTRING(f.hex, 11, 1), '0123456789abcdef') - 1 AS BIGINT) * 524288
    + CAST(CHARINDEX(SUBSTRING(f.hex, 12, 1), '0123456789abcdef') - 1 AS BIGINT) * 32768
    + CAST(CHARINDEX(SUBSTRING(f.hex, 13, 1), '0123456789abcdef') - 1 AS BIGINT) * 2048
    + CAST(CHARINDEX(SUBSTRING(f.hex, 14, 1), '0123456789abcdef') - 1 AS BIGINT) * 128
    + CAST(CHARINDEX(SUBSTRING(f.hex, 15, 1), '0123456789abcdef') - 1 AS BIGINT) * 8
    + CAST(CHARINDEX(SUBSTRING(f.hex, 16, 1), '02468ace')
      + CHARINDEX(SUBSTRING(f.hex, 16, 1), '13579bdf') - 1 AS BIGINT)
    AS file_key,
  file_path, file_size, file_mtime_ns, status, reason, radiology_image_id, run_id, processed_at
INTO @cdm_database_schema.rcdm_etl_file_upgrade
FROM (
  SELECT CAST(file_key AS VARCHAR(64)) AS hex, file_path, file_size, file_mtime_ns, status, reason, radiology_image_id,
    run_id, processed_at
  FROM @cdm_database_schema.rcdm_etl_file
) f;

DROP TABLE @cdm_database_schema.rcdm_etl_file;

DROP TABLE @cdm_database_schema.rcdm_etl_stage_file;
} : {
INSERT INTO @cdm_database_schema.rcdm_etl_file (file_key, file_path, file_size, file_mtime_ns, status, reason,
  radiology_image_id, run_id, processed_at)
SELECT CASE WHEN file_key = 0 THEN 1 ELSE file_key END, file_path, file_size, file_mtime_ns, status, reason,
  radiology_image_id, run_id, processed_at
FROM @cdm_database_schema.rcdm_etl_file_upgrade;

DROP TABLE @cdm_database_schema.rcdm_etl_file_upgrade;
}
