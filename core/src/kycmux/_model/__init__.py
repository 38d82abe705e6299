"""The data a decision is made from (evidence, checks, ID numbers) and the ways personal data
and secrets are kept out of sight (masks, keyed hashes, ``Secret``)."""
