"""Application services: what an API request does, composed of rules, storage and workflows."""
