-- Run once by the postgres image, when it initialises an empty data volume, as the
-- superuser POSTGRES_USER (onceonly). The services use the database `onceonly`
-- (POSTGRES_DB); integration tests run against `onceonly_test`, as with deploy/local.
CREATE DATABASE onceonly_test OWNER onceonly;
