"""Response schemas (for OpenAPI) and the builders that emit them."""
