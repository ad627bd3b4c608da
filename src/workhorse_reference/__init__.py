"""The reference application: the original system's small domain (users, sessions,
contacts, quotes, invoices, scheduled e-mails, workflow tasks, audit entries) and the
processors of its six job types, built on Workhorse's public API only.  The engine
(``workhorse``) never imports this package."""
