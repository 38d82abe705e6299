"""One vendor call over HTTP: the client, the hook calls on their worker threads, bounded
reads, and the outcome of an attempt."""
