"""What tests share and the product never ships: ports, served apps, a throwaway Postgres cluster,
a TLS redis-server, factories of rows."""
