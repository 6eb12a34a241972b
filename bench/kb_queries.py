"""The queries bench/kb.py times: ten representative ones on the movie KB, the 14 LUBM queries."""

from __future__ import annotations

MOVIES_PREFIXES = """PREFIX movies: <http://kgsearch.org/ns/movies#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX film: <http://kgsearch.org/movies/film/>
PREFIX person: <http://kgsearch.org/movies/person/>
"""

#: name -> (kind, query)
MOVIE_QUERIES: dict[str, tuple[str, str]] = {
    "point: facts of a film": ("point look-up", "SELECT ?p ?o WHERE { film:Rebecca ?p ?o }"),
    "point: entity by label": ("point look-up", 'SELECT ?e ?t WHERE { ?e rdfs:label "Grace Kelly" ; a ?t }'),
    "1 hop: films of a director": (
        "1-hop join",
        'SELECT ?title WHERE { ?d rdfs:label "Alfred Hitchcock" . ?f movies:directedBy ?d ; rdfs:label ?title }',
    ),
    "2 hops: actors of a director's films": (
        "2-hop join",
        "SELECT DISTINCT ?actor WHERE { ?f movies:directedBy person:Alfred_Hitchcock ; movies:starredActors ?a . ?a rdfs:label ?actor }",
    ),
    "3 hops: directors of co-stars' films": (
        "3-hop join",
        "SELECT DISTINCT ?d WHERE { ?f1 movies:starredActors person:Grace_Kelly . ?f1 movies:starredActors ?a . "
        "?f2 movies:starredActors ?a ; movies:directedBy ?d }",
    ),
    "3 hops + year filter": (
        "3-hop join",
        "SELECT (COUNT(DISTINCT ?f2) AS ?n) WHERE { ?f1 movies:directedBy person:Steven_Spielberg ; movies:writtenBy ?w . "
        "?f2 movies:writtenBy ?w ; movies:releaseYear ?y FILTER(?y < 2000) }",
    ),
    "label filter: CONTAINS": (
        "FILTER on labels",
        'SELECT ?f ?l WHERE { ?f a movies:Film ; rdfs:label ?l FILTER(CONTAINS(LCASE(?l), "love")) }',
    ),
    "label filter: REGEX": (
        "FILTER on labels",
        'SELECT ?p ?l WHERE { ?p a movies:Person ; rdfs:label ?l FILTER(REGEX(?l, "^John ")) }',
    ),
    "group by: films per genre": (
        "GROUP BY count",
        "SELECT ?g (COUNT(?f) AS ?n) WHERE { ?f movies:hasGenre ?g } GROUP BY ?g ORDER BY DESC(?n)",
    ),
    "group by: most prolific actors after 2000": (
        "GROUP BY count",
        "SELECT ?a (COUNT(?f) AS ?n) WHERE { ?f movies:starredActors ?a ; movies:releaseYear ?y FILTER(?y > 2000) } "
        "GROUP BY ?a ORDER BY DESC(?n) LIMIT 20",
    ),
}

LUBM_PREFIXES = """PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#>
PREFIX ub: <http://swat.cse.lehigh.edu/onto/univ-bench.owl#>
"""

#: The 14 LUBM queries (Guo, Pan, Heflin 2005), namespace swapped to the one the data uses.
#: name -> (needs inference?, reference count on LUBM(1,0) with inference, query)
LUBM_QUERIES: dict[str, tuple[bool, int, str]] = {
    "Q1": (
        False,
        4,
        "SELECT ?X WHERE { ?X rdf:type ub:GraduateStudent . ?X ub:takesCourse <http://www.Department0.University0.edu/GraduateCourse0> }",
    ),
    "Q2": (
        False,
        0,
        "SELECT ?X ?Y ?Z WHERE { ?X rdf:type ub:GraduateStudent . ?Y rdf:type ub:University . ?Z rdf:type ub:Department . ?X ub:memberOf ?Z . ?Z ub:subOrganizationOf ?Y . ?X ub:undergraduateDegreeFrom ?Y }",
    ),
    "Q3": (
        False,
        6,
        "SELECT ?X WHERE { ?X rdf:type ub:Publication . ?X ub:publicationAuthor <http://www.Department0.University0.edu/AssistantProfessor0> }",
    ),
    "Q4": (
        True,
        34,
        "SELECT ?X ?Y1 ?Y2 ?Y3 WHERE { ?X rdf:type ub:Professor . ?X ub:worksFor <http://www.Department0.University0.edu> . ?X ub:name ?Y1 . ?X ub:emailAddress ?Y2 . ?X ub:telephone ?Y3 }",
    ),
    "Q5": (
        True,
        719,
        "SELECT ?X WHERE { ?X rdf:type ub:Person . ?X ub:memberOf <http://www.Department0.University0.edu> }",
    ),
    "Q6": (True, 7790, "SELECT ?X WHERE { ?X rdf:type ub:Student }"),
    "Q7": (
        True,
        67,
        "SELECT ?X ?Y WHERE { ?X rdf:type ub:Student . ?Y rdf:type ub:Course . ?X ub:takesCourse ?Y . <http://www.Department0.University0.edu/AssociateProfessor0> ub:teacherOf ?Y }",
    ),
    "Q8": (
        True,
        7790,
        "SELECT ?X ?Y ?Z WHERE { ?X rdf:type ub:Student . ?Y rdf:type ub:Department . ?X ub:memberOf ?Y . ?Y ub:subOrganizationOf <http://www.University0.edu> . ?X ub:emailAddress ?Z }",
    ),
    "Q9": (
        True,
        208,
        "SELECT ?X ?Y ?Z WHERE { ?X rdf:type ub:Student . ?Y rdf:type ub:Faculty . ?Z rdf:type ub:Course . ?X ub:advisor ?Y . ?Y ub:teacherOf ?Z . ?X ub:takesCourse ?Z }",
    ),
    "Q10": (
        True,
        4,
        "SELECT ?X WHERE { ?X rdf:type ub:Student . ?X ub:takesCourse <http://www.Department0.University0.edu/GraduateCourse0> }",
    ),
    "Q11": (
        True,
        224,
        "SELECT ?X WHERE { ?X rdf:type ub:ResearchGroup . ?X ub:subOrganizationOf <http://www.University0.edu> }",
    ),
    "Q12": (
        True,
        15,
        "SELECT ?X ?Y WHERE { ?X rdf:type ub:Chair . ?Y rdf:type ub:Department . ?X ub:worksFor ?Y . ?Y ub:subOrganizationOf <http://www.University0.edu> }",
    ),
    "Q13": (True, 1, "SELECT ?X WHERE { ?X rdf:type ub:Person . <http://www.University0.edu> ub:hasAlumnus ?X }"),
    "Q14": (False, 5916, "SELECT ?X WHERE { ?X rdf:type ub:UndergraduateStudent }"),
}
