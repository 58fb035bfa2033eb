"""FastAPI: one router per audience; routes validate, authorize and call a service."""
