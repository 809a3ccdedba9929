//! Scenario files (TOML): the surge's shape and the behaviour model's parameters.
