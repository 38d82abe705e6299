"""PostgreSQL plumbing shared by the result store and the records sink: the URL (parsed,
shown masked) and kycmux's versioned tables. psycopg (the ``postgres`` extra) is imported only
when a connection is made, so core imports without it."""
