-- A head-office email is unique within its tenant, not across tenants: the global index let one
-- tenant's owner learn, from "a user with this email already exists", that an email was
-- registered in another tenant (issue 15). Login looks an email up across tenants (by the plain
-- index below) and tries the password on each account that has it; when the same email and
-- password open accounts in several tenants, the caller names the tenant.
DROP INDEX users_email_unique;
CREATE UNIQUE INDEX users_tenant_email_unique ON users (tenant_id, email) WHERE email IS NOT NULL;
CREATE INDEX users_by_email ON users (email) WHERE email IS NOT NULL;
