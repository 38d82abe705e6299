"""The engine: the embeddable façade and the async driver that performs a decision's calls."""
