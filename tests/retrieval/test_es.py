"""Elasticsearch backends: the shared contracts against a real server, and the requests they send.

The contract classes need a server this machine cannot have: they run when ``KGSEARCH_ES_URL``
is set (``KGSEARCH_ES_URL=http://localhost:9200 pytest tests/retrieval/test_es.py``) and are
skipped otherwise. The request tests below them need no server: a stand-in node answers the
real ``elasticsearch`` client, so they check the calls, not Elasticsearch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import numpy as np
import pytest

from retrieval.errors import BackendUnavailableError, DocumentError, QuerySyntaxError, RetrievalError
from retrieval.types import IndexedDocument
from tests.retrieval.text_contract import CORPUS, MANN, TextIndexContract
from tests.retrieval.vector_contract import DIM as VECTOR_DIM
from tests.retrieval.vector_contract import VectorIndexContract

ES_URL = os.environ.get("KGSEARCH_ES_URL", "")
requires_es = pytest.mark.skipif(not ES_URL, reason="set KGSEARCH_ES_URL to an Elasticsearch server to run these")


def unique_index_name(kind: str) -> str:
    """A fresh index per test, so that runs never see each other's documents."""
    return f"kgsearch-test-{kind}-{uuid.uuid4().hex[:12]}"


# -- the text index against a real server ---------------------------------------------------


@requires_es
class TestElasticsearchText(TextIndexContract):
    @pytest.fixture
    def text_index(self):
        from retrieval._es_text import ElasticsearchTextIndex

        self.opened = [ElasticsearchTextIndex(ES_URL, unique_index_name("text"))]
        yield self.opened[0]
        cleaner = ElasticsearchTextIndex(ES_URL, self.opened[0].index_name)
        cleaner.drop()
        cleaner.close()
        for index in self.opened:
            index.close()

    def reopen(self, index):
        index.close()
        self.opened.append(type(index)(ES_URL, index.index_name))
        return self.opened[-1]


# -- the text index's requests, answered by a stand-in node ----------------------------------


class Recorded:
    """Requests the client sent, and canned answers keyed by (method, path suffix)."""

    def __init__(self):
        self.requests: list[tuple[str, str, object]] = []
        self.answers: dict[tuple[str, str], tuple[int, object]] = {}

    def bodies(self, method: str, suffix: str) -> list[object]:
        return [body for m, path, body in self.requests if m == method and path.split("?")[0].endswith(suffix)]


@pytest.fixture
def recorded():
    from elastic_transport import ApiResponseMeta, BaseNode, HttpHeaders
    from elastic_transport._node import NodeApiResponse

    log = Recorded()

    class StandInNode(BaseNode):
        def perform_request(self, method, target, body=None, headers=None, request_timeout=None):
            if body and target.split("?")[0].endswith("/_bulk"):
                parsed: object = [json.loads(line) for line in body.decode().splitlines() if line]
            else:
                parsed = json.loads(body) if body else None
            log.requests.append((method, target, parsed))
            path = target.split("?")[0]
            status, answer = next(
                (v for (m, suffix), v in log.answers.items() if m == method and path.endswith(suffix)), (200, {})
            )
            if path.endswith("/_bulk"):
                answer = {"errors": False, "items": [{"index": {"_id": a["index"]["_id"], "status": 201}} for a in parsed[::2]]}  # fmt: skip
            meta = ApiResponseMeta(
                status=status,
                http_version="1.1",
                headers=HttpHeaders({"x-elastic-product": "Elasticsearch", "content-type": "application/json"}),
                duration=0.0,
                node=self.config,
            )
            return NodeApiResponse(meta, b"" if method == "HEAD" else json.dumps(answer).encode())

    log.node_class = StandInNode
    return log


@pytest.fixture
def stand_in(recorded):
    from elasticsearch import Elasticsearch

    from retrieval._es_text import ElasticsearchTextIndex

    recorded.answers[("HEAD", "/films")] = (404, None)
    client = Elasticsearch("http://stand-in:9200", node_class=recorded.node_class)
    index = ElasticsearchTextIndex(index_name="films", client=client)
    yield index
    index.close()


def test_opening_creates_the_index_with_its_mapping(stand_in, recorded):
    from retrieval._es_text import MAPPINGS

    (body,) = recorded.bodies("PUT", "/films")
    assert body["mappings"] == MAPPINGS
    assert body["mappings"]["properties"]["entities"] == {"type": "keyword"}
    assert body["mappings"]["properties"]["text"]["analyzer"] == "english"


def test_add_sends_one_bulk_then_refreshes(stand_in, recorded):
    assert stand_in.add(CORPUS[:2]) == 2
    (lines,) = recorded.bodies("PUT", "/_bulk")
    assert lines[0] == {"index": {"_index": "films", "_id": "heat"}}
    assert lines[1]["entities"] == list(CORPUS[0].entities)
    assert lines[1]["metadata"]["tags"] == ["crime", "drama"]
    assert recorded.requests[-1][1].startswith("/films/_refresh")


def test_a_bad_document_sends_nothing(stand_in, recorded):
    with pytest.raises(DocumentError, match="document bad, field text"):
        stand_in.add([CORPUS[0], IndexedDocument("bad", "", 3)])  # type: ignore[arg-type]
    assert recorded.bodies("PUT", "/_bulk") == []


def test_search_sends_bm25_with_filters_and_reads_highlights(stand_in, recorded):
    recorded.answers[("POST", "/films/_search")] = (200, {"hits": {"hits": [
        {"_id": "heat", "_score": 2.5, "highlight": {"text": ["a bank <b>heist</b>"], "title": ["Heat"]}},
        {"_id": "interview", "_score": 1.5, "highlight": {"text": ["An audio interview"], "title": ["<b>Heist</b> talk"]}},
        {"_id": "thief", "_score": 1.0, "highlight": {"text": ["Thief is a 1981 film"]}},
    ]}})  # fmt: skip
    hits = stand_in.search('heist "Los Angeles"', limit=3, entities=[MANN], modality="text")
    assert [(h.ref, h.rank, h.score) for h in hits] == [("heat", 1, 2.5), ("interview", 2, 1.5), ("thief", 3, 1.0)]
    assert [h.snippet for h in hits] == ["a bank <b>heist</b>", "<b>Heist</b> talk", "Thief is a 1981 film"]
    (body,) = recorded.bodies("POST", "/films/_search")
    assert body["size"] == 3 and body["_source"] is False
    assert body["highlight"]["pre_tags"] == ["<b>"] and body["highlight"]["encoder"] == "html"
    assert body["query"]["bool"]["filter"] == [{"term": {"entities": MANN}}, {"term": {"modality": "text"}}]
    words, phrase = body["query"]["bool"]["must"][0]["bool"]["should"]
    assert words["multi_match"]["type"] == "most_fields" and words["multi_match"]["query"].split() == ["heist"]
    assert phrase["bool"]["should"][1] == {"match_phrase": {"text": "Los Angeles"}}


def test_native_syntax_errors_become_query_syntax_errors(stand_in, recorded):
    error = {"error": {"type": "search_phase_execution_exception", "reason": "Failed to parse query [title:(heat]"}}
    recorded.answers[("POST", "/films/_search")] = (400, error)
    with pytest.raises(QuerySyntaxError, match="syntax='simple'"):
        stand_in.search("title:(heat", syntax="native")


def test_get_count_and_delete(stand_in, recorded):
    recorded.answers[("GET", "/films/_doc/nope")] = (404, {"_id": "nope", "found": False})
    recorded.answers[("GET", "/films/_doc/heat")] = (200, {"_id": "heat", "found": True, "_source": {
        "id": "heat", "title": "Heat", "text": CORPUS[0].text, "modality": "text",
        "entities": list(CORPUS[0].entities), "metadata": dict(CORPUS[0].metadata)}})  # fmt: skip
    recorded.answers[("POST", "/films/_count")] = (200, {"count": 7})
    recorded.answers[("POST", "/films/_delete_by_query")] = (200, {"deleted": 1})
    assert stand_in.get("nope") is None
    assert stand_in.get("heat") == CORPUS[0]
    assert stand_in.count() == 7
    assert stand_in.delete(["psycho", "psycho", "nope"]) == 1
    (body,) = recorded.bodies("POST", "/films/_delete_by_query")
    assert body == {"query": {"ids": {"values": ["psycho", "nope"]}}}


def test_query_bodies():
    from retrieval._es_text import ElasticsearchTextIndex

    body = ElasticsearchTextIndex.query_body
    assert body("", entities=[MANN]) == {
        "constant_score": {"filter": {"bool": {"filter": [{"term": {"entities": MANN}}]}}, "boost": 1.0}
    }
    assert body("?! ()") is None
    assert body("title:(heat", syntax="native")["bool"]["must"][0]["query_string"]["query"] == "title:(heat"
    only_phrase = body('"los angeles"', ids=["heat"])["bool"]
    assert only_phrase["filter"] == [{"terms": {"id": ["heat"]}}]
    assert len(only_phrase["must"][0]["bool"]["should"]) == 1  # no empty multi_match for the loose words


def test_an_unreachable_server_says_so():
    from retrieval._es_text import ElasticsearchTextIndex

    with pytest.raises(BackendUnavailableError, match="cannot reach Elasticsearch at http://127.0.0.1:9"):
        ElasticsearchTextIndex("http://127.0.0.1:9", max_retries=0, request_timeout=2)


def test_the_client_is_imported_only_when_an_index_opens():
    code = "import sys, retrieval._es_text, retrieval.text_index; print('elasticsearch' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "False"


# -- the vector index against a real server --------------------------------------------------


@requires_es
class TestElasticsearchVector(VectorIndexContract):
    @pytest.fixture
    def vector_index(self):
        from retrieval._es_vector import ElasticsearchVectorIndex

        self.opened = [ElasticsearchVectorIndex(ES_URL, unique_index_name("vectors"), VECTOR_DIM)]
        yield self.opened[0]
        cleaner = ElasticsearchVectorIndex(ES_URL, self.opened[0].index_name)
        cleaner.drop()
        cleaner.close()
        for index in self.opened:
            index.close()

    @pytest.fixture
    def reopen(self):
        def reopen(index):
            index.close()
            self.opened.append(type(index)(ES_URL, index.index_name))
            return self.opened[-1]

        return reopen


# -- the vector index's requests, answered by the stand-in node ------------------------------


@pytest.fixture
def vector_stand_in(recorded):
    from elasticsearch import Elasticsearch

    from retrieval._es_vector import ElasticsearchVectorIndex

    recorded.answers[("HEAD", "/vectors")] = (404, None)
    client = Elasticsearch("http://stand-in:9200", node_class=recorded.node_class)
    index = ElasticsearchVectorIndex(index_name="vectors", dim=VECTOR_DIM, client=client)
    yield index
    index.close()


def test_a_vector_index_is_created_with_a_float_cosine_dense_vector(vector_stand_in, recorded):
    (body,) = recorded.bodies("PUT", "/vectors")
    assert body["mappings"]["properties"] == {
        "vector": {
            "type": "dense_vector",
            "dims": 4,
            "index": True,
            "similarity": "cosine",
            "index_options": {"type": "hnsw"},
        }
    }


def test_vectors_are_added_in_one_bulk_then_refreshed(vector_stand_in, recorded):
    assert vector_stand_in.add(["heat", "alien"], np.array([[0, 1, 0.5, 0], [1, 0, 0, 0]])) == 2
    (lines,) = [body for _, path, body in recorded.requests if path.split("?")[0] == "/_bulk"]
    assert lines == [
        {"index": {"_index": "vectors", "_id": "heat"}},
        {"vector": [0.0, 1.0, 0.5, 0.0]},
        {"index": {"_index": "vectors", "_id": "alien"}},
        {"vector": [1.0, 0.0, 0.0, 0.0]},
    ]
    assert recorded.requests[-1][1].startswith("/vectors/_refresh")
    with pytest.raises(DocumentError, match="zero, NaN or infinite"):
        vector_stand_in.add(["zero"], np.zeros((1, VECTOR_DIM)))
    assert sum(path.split("?")[0] == "/_bulk" for _, path, _ in recorded.requests) == 1


def test_vector_search_sends_knn_with_an_ids_filter_and_returns_cosines(vector_stand_in, recorded):
    hits = [{"_id": "alien", "_score": 0.9}, {"_id": "heat", "_score": 0.25}]
    recorded.answers[("POST", "/vectors/_search")] = (200, {"hits": {"hits": hits}})
    found = vector_stand_in.search(np.array([1, 0, 0, 0]), limit=2, ids=["alien", "heat", "alien"])
    assert [(h.source, h.ref, round(h.score, 4), h.rank) for h in found] == [
        ("vector", "alien", 0.8, 1),
        ("vector", "heat", -0.5, 2),
    ]
    (body,) = recorded.bodies("POST", "/vectors/_search")
    assert body["knn"] == {
        "field": "vector",
        "query_vector": [1.0, 0.0, 0.0, 0.0],
        "k": 2,
        "num_candidates": 100,
        "filter": {"terms": {"_id": ["alien", "heat"]}},
    }
    assert body["size"] == 2 and body["_source"] is False


def test_an_existing_vector_index_of_another_dimension_is_refused(recorded):
    from elasticsearch import Elasticsearch

    from retrieval._es_vector import ElasticsearchVectorIndex

    field = {"type": "dense_vector", "dims": 384, "index": True, "similarity": "cosine"}
    recorded.answers[("GET", "/vectors/_mapping")] = (200, {"vectors": {"mappings": {"properties": {"vector": field}}}})
    client = Elasticsearch("http://stand-in:9200", node_class=recorded.node_class)
    assert ElasticsearchVectorIndex(index_name="vectors", client=client).dim == 384
    with pytest.raises(RetrievalError, match="holds 384-dimensional vectors, not 4"):
        ElasticsearchVectorIndex(index_name="vectors", dim=4, client=client)


def test_an_unreachable_vector_server_says_so():
    from retrieval._es_vector import ElasticsearchVectorIndex

    with pytest.raises(BackendUnavailableError, match="cannot reach Elasticsearch at http://127.0.0.1:9"):
        ElasticsearchVectorIndex("http://127.0.0.1:9", "vectors", 4, max_retries=0, request_timeout=2)


def test_the_vector_client_is_imported_only_when_an_index_opens():
    code = "import sys, retrieval._es_vector, retrieval.vector_index; print('elasticsearch' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "False"
