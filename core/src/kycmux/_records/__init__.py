"""Decision records: what every decision leaves behind, and the sinks that keep them."""
