"""The rules of a decision, with no I/O: policies, verdicts, how they combine, and the account
a record gives of them."""
