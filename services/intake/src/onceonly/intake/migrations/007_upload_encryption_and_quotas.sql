-- Uploaded materials are stored encrypted (AES-256-GCM, `upload_crypto.py`): `content` is
-- nonce + ciphertext under the key `key_id` names. Rows written before hold plaintext and
-- no key id; they are read as they are until `onceonly-intake reseal-uploads` encrypts them.
ALTER TABLE intake.material_uploads ADD COLUMN key_id text;

-- Uploads per integrator per day (China Standard Time), counted when an upload is kept,
-- so that every API process shares one quota.
CREATE TABLE intake.upload_usage (
    integrator_id  text    NOT NULL REFERENCES intake.integrators (id),
    day            date    NOT NULL,
    uploads        integer NOT NULL CHECK (uploads >= 0),
    bytes          bigint  NOT NULL CHECK (bytes >= 0),
    PRIMARY KEY (integrator_id, day)
);
