"""Hospital feeds: messages from the hospital's own systems land through the same domain
code as the REST API (same serializers, same audit, same refresh)."""
