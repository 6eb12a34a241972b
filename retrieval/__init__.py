"""Retrieval: text and vector indexes, ingestion, SPARQL+Text and hybrid scoring (imports ``kg``, ``linking``, ``parser``)."""
