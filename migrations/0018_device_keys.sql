-- The store mesh (issue 12): each device's ed25519 public key, sent at enrolment. A change
-- that reaches the server through another device of the store is accepted only with a valid
-- signature of its author's key, and authorized as its author. Devices enrolled before keep
-- NULL: their changes reach the server only through their own pushes.
ALTER TABLE devices ADD COLUMN public_key bytea
    CONSTRAINT devices_public_key_len CHECK (public_key IS NULL OR length(public_key) = 32);
