"""Entity linkers: ground text mentions, image regions and speech to KB entities (imports ``kg``)."""
