"""gridmap domain core: models, spatial rules and services. Never imports a web framework."""
