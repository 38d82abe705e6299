"""Live experiments in the engine: traffic splits and shadow vendors, and their results."""
