"""The plugin contract: the plugin host and its dispatch, and the values that cross it (vendor
specs, requests, responses, results, scores, the error taxonomy)."""
