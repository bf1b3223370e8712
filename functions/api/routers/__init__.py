"""One router per area of the API; `functions.api.app` includes them in the document's order."""
