-- The local base registry (基础库): stands in for the provincial data platform that
-- shared-data checks (数据共享 / 免证办) ask. Read through `PostgresBaseRegistry`.
--
-- Every row is keyed by a lookup key, HMAC-SHA256(registry key, identifier), never by
-- the resident ID number or credit code itself: an ID number has so little entropy
-- (region, birth date, three digits) that a plain SHA-256 of it is reversed by
-- enumeration in minutes, while without the key a dump of these tables names nobody
-- by number. The key is given to the adapter, not stored here.
CREATE SCHEMA IF NOT EXISTS registry;

-- 人口库: residents.
CREATE TABLE IF NOT EXISTS registry.people (
    lookup_key          text        PRIMARY KEY,
    name                text        NOT NULL,
    birth_date          date        NOT NULL,
    household_district  text        NOT NULL CHECK (household_district ~ '^[0-9]{6}$'),
    marital_status      text        NOT NULL
        CHECK (marital_status IN ('married', 'unmarried', 'divorced', 'widowed', 'unknown')),
    alive               boolean     NOT NULL DEFAULT true,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- 法人库: organisations; the legal representative by their own lookup key, so the
-- adapter can join to `people` without ever holding the representative's ID number.
CREATE TABLE IF NOT EXISTS registry.organisations (
    lookup_key                text        PRIMARY KEY,
    name                      text        NOT NULL,
    status                    text        NOT NULL CHECK (status IN ('active', 'revoked')),
    legal_representative_key  text        NOT NULL,
    updated_at                timestamptz NOT NULL DEFAULT now()
);

-- 不动产登记: one row per certificate and owner (co-owned homes have several).
CREATE TABLE IF NOT EXISTS registry.properties (
    owner_key           text           NOT NULL,
    certificate_number  text           NOT NULL,
    district_code       text           NOT NULL CHECK (district_code ~ '^[0-9]{6}$'),
    district_name       text           NOT NULL,
    usage               text           NOT NULL,
    area_m2             numeric(10, 2) NOT NULL CHECK (area_m2 > 0),
    updated_at          timestamptz    NOT NULL DEFAULT now(),
    PRIMARY KEY (owner_key, certificate_number)
);

-- 社保: contributions of a person (or, for an organisation, as employer).
CREATE TABLE IF NOT EXISTS registry.social_insurance (
    lookup_key         text        PRIMARY KEY,
    employer           text        NOT NULL,
    months_continuous  integer     NOT NULL CHECK (months_continuous >= 0),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- 信用: the public credit record (失信被执行人 list, overdue loans).
CREATE TABLE IF NOT EXISTS registry.credit (
    lookup_key     text        PRIMARY KEY,
    blacklisted    boolean     NOT NULL,
    overdue_loans  integer     NOT NULL CHECK (overdue_loans >= 0),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- 电子证照库: e-licences held by a person or an organisation.
CREATE TABLE IF NOT EXISTS registry.elicences (
    holder_key    text        NOT NULL,
    number        text        NOT NULL,
    licence_type  text        NOT NULL,
    name_zh       text        NOT NULL,
    issued_on     date        NOT NULL,
    valid_until   date,       -- NULL: valid indefinitely (长期)
    status        text        NOT NULL CHECK (status IN ('valid', 'revoked')),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (holder_key, number)
);
