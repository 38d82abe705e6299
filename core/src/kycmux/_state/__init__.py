"""State every replica must agree on: the async contract and its stores."""
