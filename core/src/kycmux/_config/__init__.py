"""Configuration: one TOML file (vendors, policies, engine, experiments), typed and validated."""
