"""The PostgreSQL engine: many Tactful servers on many hosts share one database.

Every store lives in the database named by `[storage] url`, the identity vault in
its own (`vault_url`), so that a copy of the behavior database reveals no
identifier. Each store owns a pool of connections (connection.py); errors become
the domain's at each class's edge (errors.py); each store's tables carry a
schema version that `tactful db migrate` advances and a server checks (schema.py,
migrate.py).
"""

# Writer threads per server process: each holds a connection, so that while one
# waits for its commit to be flushed, the next group of batches is already sent.
WRITE_THREADS = 4
# A read is a network round trip: on the event loop, every read would wait for the one
# before it. Reads run on threads of their own, as many as the pool has connections.
READS_ON_THREADS = True
