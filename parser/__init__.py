"""Semantic parsing: natural-language questions to SPARQL over the KB's ontology (imports ``kg``, ``linking``)."""
