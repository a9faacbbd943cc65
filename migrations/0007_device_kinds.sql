-- What a device is enrolled as. A manager issues the enrolment code for a till or for a kitchen
-- screen; the device takes the code's kind and cannot change it. A kitchen screen acts with the
-- kitchen role's rights whoever is logged in on it (`pos_core::auth::DeviceKind::cap`): the
-- server caps the roles of every change such a device pushes, so that a manager's PIN typed on
-- the pass cannot take a payment or change a price from that screen. Existing devices and
-- codes are tills, as they were.
ALTER TABLE enrolment_codes ADD COLUMN kind text NOT NULL DEFAULT 'till'
    CONSTRAINT enrolment_codes_kind_known CHECK (kind IN ('till', 'kitchen'));
ALTER TABLE devices ADD COLUMN kind text NOT NULL DEFAULT 'till'
    CONSTRAINT devices_kind_known CHECK (kind IN ('till', 'kitchen'));
