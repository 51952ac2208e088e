-- Admin reset, SQLite dialect (migrations/postgres/0002_admin.sql is the same
-- for PostgreSQL). src/admin/reset.rs explains what a reset does.

-- A web session ended by an administrator's reset is kept, marked, until it
-- expires, so the browser that still holds its cookie is told why it was
-- logged out. It never lets anyone in again (see store/web_sessions.rs).
ALTER TABLE web_sessions ADD COLUMN ended_at INTEGER;

-- Who reset the account (`admin:<telegram id>`, `admin-token:<id>`, `cli`);
-- NULL when the staff member logged out themselves. Cleared by the next login.
ALTER TABLE accounts ADD COLUMN reset_by TEXT;
