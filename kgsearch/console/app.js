/* kgsearch analyst console.
 *
 * One page over the HTTP API: ask a question (/ask) and see the SPARQL it became, edit and
 * run SPARQL (/sparql), search the documents (/search), and open any entity's card
 * (/entities/{iri}) with its neighbourhood graph. The whole state lives in the URL hash
 * (mode, q, query, entity), so every view is a link an analyst can share.
 *
 * Text from the server is put into the page with textContent; the only markup accepted
 * from it is the <b> of highlighted mentions in snippets (see safeSnippet).
 */
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const MODES = ["ask", "sparql", "search"];
  const TABLE_ROWS_SHOWN = 1000;
  const SPARQL_ACCEPT = "application/sparql-results+json, text/turtle;q=0.9";

  let prefixes = {}; // prefix name -> namespace, from /prefixes
  let editor = null; // CodeMirror instance
  let current = null; // what the download buttons save: {kind, json, query, graph}
  let done = { ask: null, sparql: null, search: null, entity: null }; // last request per view
  const renderedTime = () => performance.now();

  // ---------------------------------------------------------------- state in the URL hash

  function readState() {
    const params = new URLSearchParams(location.hash.replace(/^#/, ""));
    const mode = MODES.includes(params.get("mode")) ? params.get("mode") : "ask";
    return {
      mode,
      q: params.get("q") || "",
      query: params.get("query") || "",
      entity: params.get("entity") || "",
    };
  }

  function hashFor(state) {
    const params = new URLSearchParams();
    params.set("mode", state.mode);
    if (state.q && state.mode !== "sparql") params.set("q", state.q);
    if (state.query && state.mode === "sparql") params.set("query", state.query);
    if (state.entity) params.set("entity", state.entity);
    return "#" + params.toString();
  }

  function navigate(changes) {
    const next = hashFor(Object.assign(readState(), changes));
    if (next === location.hash) route();
    else location.hash = next;
  }

  function entityHref(iri) {
    return hashFor(Object.assign(readState(), { entity: iri }));
  }

  // ---------------------------------------------------------------- HTTP

  class ApiError extends Error {
    constructor(status, type, message) {
      super(message);
      this.status = status;
      this.type = type;
    }
  }

  async function failure(response) {
    let type = "HTTP " + response.status;
    let message = response.statusText || "request failed";
    const text = await response.text();
    try {
      const body = JSON.parse(text);
      if (body && body.error) {
        type = body.error.type || type;
        message = body.error.message || message;
      }
    } catch (ignored) {
      if (text) message = text.slice(0, 500);
    }
    if (response.status === 503 && response.headers.get("Retry-After")) {
      message += " (retry after " + response.headers.get("Retry-After") + " s)";
    }
    return new ApiError(response.status, type, message);
  }

  async function getJson(path) {
    const response = await fetch(path, { headers: { Accept: "application/json" } });
    if (!response.ok) throw await failure(response);
    return response.json();
  }

  function postSparql(query, accept) {
    return fetch("/sparql", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: accept },
      body: new URLSearchParams({ query }).toString(),
    });
  }

  // ---------------------------------------------------------------- small DOM helpers

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /** A snippet from the server as DOM: its text, with <b> kept for highlighted mentions. */
  function safeSnippet(html) {
    const template = document.createElement("template");
    template.innerHTML = html || ""; // inert: nothing in a template runs or loads
    const out = el("span", { class: "snippet" });
    const copy = (from, to) => {
      for (const node of from.childNodes) {
        if (node.nodeType === Node.TEXT_NODE) to.append(node.textContent);
        else if (node.nodeType === Node.ELEMENT_NODE) {
          const keep = node.tagName === "B" ? to.appendChild(el("b", { class: "mention" })) : to;
          copy(node, keep);
        }
      }
    };
    copy(template.content, out);
    return out;
  }

  function shorten(iri) {
    let best = null;
    for (const [name, ns] of Object.entries(prefixes)) {
      if (iri.startsWith(ns) && /^[\w.-]*$/.test(iri.slice(ns.length)) && (!best || ns.length > best[1].length)) {
        best = [name, ns];
      }
    }
    return best ? best[0] + ":" + iri.slice(best[1].length) : "<" + iri + ">";
  }

  function localName(iri) {
    const tail = iri.replace(/[#/]+$/, "").split(/[#/]/).pop() || iri;
    try {
      return decodeURIComponent(tail).replace(/_/g, " ");
    } catch (ignored) {
      return tail;
    }
  }

  function entityLink(iri, label) {
    return el("a", {
      class: "entity-link",
      href: entityHref(iri),
      title: iri,
      "data-iri": iri,
      "data-unlabelled": !label,
      text: label || shorten(iri),
    });
  }

  /** Give the IRI links in a SPARQL result their rdfs:label, fetched with one query. */
  async function labelLinks(container) {
    const links = [...container.querySelectorAll("a.entity-link[data-unlabelled]")];
    const iris = [...new Set(links.map((a) => a.dataset.iri))]
      .filter((iri) => /^[^<>"{}|^`\\\s]+$/.test(iri))
      .slice(0, 500);
    if (!iris.length) return;
    const query =
      "SELECT ?s (SAMPLE(?l) AS ?label) WHERE { VALUES ?s { " + iris.map((iri) => "<" + iri + ">").join(" ") +
      " } ?s <http://www.w3.org/2000/01/rdf-schema#label> ?l } GROUP BY ?s";
    let json;
    try {
      const response = await postSparql(query, "application/sparql-results+json");
      if (!response.ok) return;
      json = await response.json();
    } catch (ignored) {
      return; // labels are a convenience: the IRIs stay
    }
    const labels = new Map(json.results.bindings.filter((b) => b.label).map((b) => [b.s.value, b.label.value]));
    for (const link of links) {
      const label = labels.get(link.dataset.iri);
      if (!label) continue;
      link.textContent = label;
      link.removeAttribute("data-unlabelled");
      const curie = shorten(link.dataset.iri);
      if (!curie.startsWith("<")) link.after(el("small", { class: "curie", text: " " + curie }));
    }
  }

  function formatNumber(n) {
    return typeof n === "number" ? n.toLocaleString("en-US") : String(n);
  }

  /** Replace a node's children, skipping the null and false that conditional parts give. */
  function fill(node, ...children) {
    node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  }

  function clear(...ids) {
    for (const id of ids) $(id).replaceChildren();
  }

  // ---------------------------------------------------------------- status, errors, downloads

  function setStatus(text) {
    $("status").textContent = text || "";
  }

  function showError(error) {
    const box = $("error");
    box.replaceChildren(
      el("strong", { text: error.type || error.name || "Error" }),
      " ",
      el("span", { class: "message", text: error.message }),
    );
    box.hidden = false;
    setStatus("");
  }

  function resetOutput() {
    $("error").hidden = true;
    $("truncated").hidden = true;
    $("result-toolbar").hidden = true;
    $("share-url").hidden = true;
    current = null;
  }

  function showTruncated(rows) {
    const box = $("truncated");
    box.textContent =
      "The result was cut at the server's row cap (" + formatNumber(rows) + " rows): " +
      "add a LIMIT or narrow the query to see everything.";
    box.hidden = false;
  }

  function offerDownloads(kind, json, summary, extra) {
    current = Object.assign({ kind, json }, extra || {});
    $("result-summary").textContent = summary;
    $("download-csv").hidden = kind === "graph";
    $("download-json").textContent = kind === "graph" ? "Download JSON-LD" : "Download JSON";
    $("result-toolbar").hidden = false;
  }

  function save(blob, name) {
    const url = URL.createObjectURL(blob);
    const a = el("a", { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  function csvCell(value) {
    const text = value === null || value === undefined ? "" : String(value);
    return /[",\n\r]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }

  async function downloadCsv() {
    if (!current) return;
    try {
      if (current.kind === "sparql") {
        const response = await postSparql(current.query, "text/csv");
        if (!response.ok) throw await failure(response);
        save(await response.blob(), "kgsearch-results.csv");
      } else if (current.kind === "ask") {
        const lines = [["answer", "iri", "score", "evidence"].join(",")];
        for (const a of current.json.answers) {
          const evidence = a.evidence.map((e) => e.source + ":" + e.ref).join(" ");
          lines.push([a.label || a.literal, a.iri, a.score, evidence].map(csvCell).join(","));
        }
        save(new Blob([lines.join("\r\n") + "\r\n"], { type: "text/csv" }), "kgsearch-answers.csv");
      } else if (current.kind === "search") {
        const lines = [["id", "title", "score", "entities"].join(",")];
        for (const d of current.json.documents) {
          lines.push([d.id, d.title, d.score, d.entities.join(" ")].map(csvCell).join(","));
        }
        save(new Blob([lines.join("\r\n") + "\r\n"], { type: "text/csv" }), "kgsearch-documents.csv");
      }
    } catch (error) {
      showError(error);
    }
  }

  async function downloadJson() {
    if (!current) return;
    try {
      if (current.kind === "graph") {
        const response = await postSparql(current.query, "application/ld+json");
        if (!response.ok) throw await failure(response);
        save(await response.blob(), "kgsearch-graph.jsonld");
        return;
      }
      const text = JSON.stringify(current.json, null, 2);
      save(new Blob([text], { type: "application/json" }), "kgsearch-" + current.kind + ".json");
    } catch (error) {
      showError(error);
    }
  }

  async function share() {
    const url = location.href;
    const field = $("share-url");
    field.value = url;
    field.hidden = false;
    field.select();
    try {
      await navigator.clipboard.writeText(url);
      setStatus("Link copied.");
    } catch (ignored) {
      setStatus("Copy the link from the box.");
    }
  }

  // ---------------------------------------------------------------- ask

  async function ask(question) {
    resetOutput();
    clear("answers", "results", "interpretation");
    $("answers").hidden = true;
    $("interpretation").hidden = true;
    $("question").value = question;
    if (!question.trim()) return;
    setStatus("Asking…");
    const started = renderedTime();
    let result;
    try {
      result = await getJson("/ask?q=" + encodeURIComponent(question));
    } catch (error) {
      showError(error);
      return;
    }
    if (result.sparql) setEditor(result.sparql);
    renderInterpretation(result);
    renderAnswers(result);
    const ms = Math.round(renderedTime() - started);
    const summary = result.answers.length + " answer" + (result.answers.length === 1 ? "" : "s");
    setStatus(summary + " in " + ms + " ms.");
    offerDownloads("ask", result, summary);
  }

  function renderInterpretation(result) {
    const box = $("interpretation");
    const linked = result.entities.map((e) =>
      el("span", { class: "chip" }, "“" + e.surface + "” → ", entityLink(e.iri, e.label),
        el("small", { text: " " + e.method + " " + e.score.toFixed(2) })),
    );
    fill(box,
      el("div", {},
        el("span", { class: "label", text: "Interpreted as " }),
        el("span", { class: "explanation", text: result.explanation || "(no KB interpretation)" }),
        el("span", { class: "confidence" + (result.low_confidence ? " low" : ""),
          text: " confidence " + result.confidence.toFixed(2) + (result.low_confidence ? " (low)" : "") })),
      linked.length ? el("div", { class: "linked" }, el("span", { class: "label", text: "Entities " }), linked) : null,
      result.sparql ? el("div", { class: "edit-hint", text: "The SPARQL below is what the question became: edit it and run it." }) : null,
    );
    box.hidden = false;
  }

  function renderAnswers(result) {
    const box = $("answers");
    if (!result.answers.length) {
      box.replaceChildren(el("p", { class: "empty", text: "No answers." }));
      box.hidden = false;
      return;
    }
    const list = el("ol", { class: "answer-list" });
    for (const answer of result.answers) {
      const head = answer.iri
        ? entityLink(answer.iri, answer.label)
        : el("span", { class: "literal", text: answer.literal ?? answer.label });
      const evidence = el("ul", { class: "evidence" });
      for (const e of answer.evidence) {
        if (e.source === "kb") {
          evidence.append(el("li", { class: "kb" }, el("span", { class: "source", text: "KB" }), " the SPARQL query"));
        } else {
          evidence.append(el("li", { class: e.source },
            el("span", { class: "source", text: e.source === "text" ? "doc" : e.source }),
            " ", el("code", { text: e.ref }), " ", safeSnippet(e.snippet)));
        }
      }
      list.append(el("li", { class: "answer" },
        el("div", { class: "answer-head" }, head, el("span", { class: "score", text: answer.score.toFixed(3) })),
        evidence));
    }
    box.replaceChildren(el("h2", { text: "Answers" }), list);
    box.hidden = false;
  }

  // ---------------------------------------------------------------- SPARQL

  function setEditor(text) {
    if (editor.getValue() !== text) editor.setValue(text);
  }

  async function runSparql(query) {
    resetOutput();
    clear("results");
    if (!query.trim()) return; // an empty link keeps what the editor holds
    setEditor(query);
    setStatus("Running…");
    const started = renderedTime();
    let response;
    try {
      response = await postSparql(query, SPARQL_ACCEPT);
      if (!response.ok) throw await failure(response);
    } catch (error) {
      showError(error);
      return;
    }
    const ms = Math.round(renderedTime() - started);
    const type = response.headers.get("Content-Type") || "";
    const truncated = response.headers.get("X-KGSearch-Truncated") === "true";
    if (type.startsWith("application/sparql-results+json")) {
      const json = await response.json();
      let summary;
      if ("boolean" in json) {
        $("results").replaceChildren(el("p", { class: "boolean", text: json.boolean ? "true" : "false" }));
        summary = "ASK: " + json.boolean;
      } else {
        const rows = json.results.bindings.length;
        renderTable(json);
        summary = formatNumber(rows) + " row" + (rows === 1 ? "" : "s");
        if (truncated || json.truncated) showTruncated(rows);
      }
      setStatus(summary + " in " + ms + " ms.");
      offerDownloads("sparql", json, summary, { query });
    } else {
      const text = await response.text();
      $("results").replaceChildren(el("pre", { class: "graph-result", text }));
      const triples = text.split("\n").filter((line) => line.trim()).length;
      if (truncated) showTruncated(triples);
      setStatus("Graph result (" + type.split(";")[0] + ") in " + ms + " ms.");
      offerDownloads("graph", null, "Graph result", { query });
    }
  }

  function cell(term) {
    if (!term) return el("td", { class: "unbound" });
    if (term.type === "uri") return el("td", {}, entityLink(term.value));
    if (term.type === "bnode") return el("td", { class: "bnode", text: "_:" + term.value });
    const td = el("td", { class: "literal", text: term.value });
    if (term["xml:lang"]) td.append(el("small", { text: " @" + term["xml:lang"] }));
    else if (term.datatype) {
      td.title = term.datatype;
      if (!/XMLSchema#(integer|decimal|double|string)$/.test(term.datatype)) {
        td.append(el("small", { text: " " + shorten(term.datatype) }));
      }
    }
    return td;
  }

  function renderTable(json) {
    const vars = json.head.vars || [];
    const rows = json.results.bindings;
    const table = el("table", { class: "result-table", id: "results-table" },
      el("thead", {}, el("tr", {}, vars.map((v) => el("th", { text: "?" + v })))));
    const body = el("tbody");
    for (const row of rows.slice(0, TABLE_ROWS_SHOWN)) {
      body.append(el("tr", {}, vars.map((v) => cell(row[v]))));
    }
    table.append(body);
    const parts = [table];
    if (rows.length > TABLE_ROWS_SHOWN) {
      parts.push(el("p", { class: "note",
        text: "Showing the first " + formatNumber(TABLE_ROWS_SHOWN) + " of " + formatNumber(rows.length) +
          " rows; the downloads hold them all." }));
    }
    if (!rows.length) parts.push(el("p", { class: "empty", text: "No rows." }));
    $("results").replaceChildren(...parts);
    labelLinks(table);
  }

  // ---------------------------------------------------------------- search

  async function search(q) {
    resetOutput();
    clear("search-results");
    $("search-q").value = q;
    if (!q.trim()) return;
    setStatus("Searching…");
    const started = renderedTime();
    let result;
    try {
      result = await getJson("/search?k=20&q=" + encodeURIComponent(q));
    } catch (error) {
      showError(error);
      return;
    }
    const list = el("ol", { class: "document-list" });
    for (const d of result.documents) {
      list.append(el("li", { class: "document" },
        el("div", { class: "document-head" },
          el("span", { class: "title", text: d.title || d.id }),
          el("code", { text: d.id }),
          el("span", { class: "score", text: d.score.toFixed(3) })),
        el("p", {}, safeSnippet(d.snippet)),
        d.entities.length
          ? el("div", { class: "chips" }, d.entities.slice(0, 12).map((iri) => entityLink(iri, localName(iri))))
          : null));
    }
    if (!result.documents.length) list.append(el("li", { class: "empty", text: "No documents match." }));
    $("search-results").replaceChildren(list);
    const summary = result.documents.length + " document" + (result.documents.length === 1 ? "" : "s");
    setStatus(summary + " in " + Math.round(renderedTime() - started) + " ms.");
    offerDownloads("search", result, summary);
  }

  // ---------------------------------------------------------------- entity card and graph

  async function openEntity(iri) {
    const panel = $("entity-panel");
    panel.hidden = false;
    clear("entity-card", "graph", "entity-documents");
    $("entity-card").append(el("p", { class: "loading", text: "Loading " + iri + " …" }));
    const path = "/entities/" + encodeURIComponent(iri);
    let card;
    let hood;
    try {
      [card, hood] = await Promise.all([getJson(path + "?documents=5"), getJson(path + "/neighbors?limit=24")]);
    } catch (error) {
      $("entity-card").replaceChildren(el("div", { class: "error" },
        el("strong", { text: error.type || "Error" }), " ", el("span", { class: "message", text: error.message })));
      return;
    }
    renderCard(card);
    renderGraph(hood);
    renderDocuments(card.documents);
  }

  function renderCard(card) {
    const facts = el("table", { class: "facts" });
    for (const group of card.facts) {
      const name = group.direction === "in" ? "← " + group.property.label : group.property.label;
      const values = el("td", {});
      group.values.forEach((v, i) => {
        if (i) values.append(", ");
        if (v.type === "uri") values.append(entityLink(v.value, v.label));
        else values.append(el("span", { class: "literal", text: v.label || v.value }));
      });
      facts.append(el("tr", { class: "fact " + group.direction },
        el("th", { title: group.property.iri, text: name }), values));
    }
    const images = card.images.map((image) =>
      image.url.startsWith("file:")
        ? el("img", { src: "/images?iri=" + encodeURIComponent(image.url), alt: card.label, loading: "lazy" })
        : el("a", { href: image.url, target: "_blank", rel: "noopener noreferrer", text: image.url }));
    fill($("entity-card"),
      el("h2", { class: "entity-label", text: card.label }),
      el("div", { class: "iri" }, el("code", { text: card.iri })),
      el("div", { class: "chips" }, card.types.map((t) => el("span", { class: "chip type", title: t.iri, text: t.label }))),
      card.aliases.length ? el("div", { class: "aliases", text: "Also: " + card.aliases.join(" · ") }) : null,
      images.length ? el("div", { class: "images" }, images) : null,
      card.description ? el("p", { class: "description", text: card.description }) : null,
      facts,
    );
  }

  function hue(text) {
    let h = 0;
    for (const ch of text) h = (h * 31 + ch.charCodeAt(0)) % 360;
    return h;
  }

  function renderGraph(hood) {
    const NS = "http://www.w3.org/2000/svg";
    const svgEl = (tag, attrs, text) => {
      const node = document.createElementNS(NS, tag);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
      if (text !== undefined) node.textContent = text;
      return node;
    };
    const width = 520;
    const height = 420;
    const middle = width / 2;
    const centreY = height / 2;
    const radius = 135;
    const svg = svgEl("svg", { viewBox: "0 0 " + width + " " + height, role: "img", class: "graph-svg",
      "aria-label": "Neighbourhood graph" });
    svg.append(svgEl("defs", {}));
    svg.firstChild.innerHTML =
      '<marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse">' +
      '<path d="M0,0 L10,5 L0,10 z" fill="#8a94a6"/></marker>';
    const others = hood.nodes.filter((n) => n.iri !== hood.center);
    const position = { [hood.center]: [middle, centreY] };
    others.forEach((n, i) => {
      const angle = (2 * Math.PI * i) / Math.max(others.length, 1) - Math.PI / 2;
      position[n.iri] = [middle + radius * Math.cos(angle), centreY + radius * Math.sin(angle)];
    });
    for (const edge of hood.edges) {
      const a = position[edge.source];
      const b = position[edge.target];
      if (!a || !b) continue;
      const dx = b[0] - a[0];
      const dy = b[1] - a[1];
      const length = Math.hypot(dx, dy) || 1;
      const line = svgEl("line", {
        x1: a[0], y1: a[1], x2: b[0] - (dx / length) * 9, y2: b[1] - (dy / length) * 9,
        class: "edge", "marker-end": "url(#arrow)",
      });
      line.append(svgEl("title", {}, edge.label));
      svg.append(line);
    }
    for (const node of hood.nodes) {
      const [x, y] = position[node.iri];
      const centre = node.iri === hood.center;
      const group = svgEl("a", { href: entityHref(node.iri), class: "node" + (centre ? " center" : ""),
        "data-iri": node.iri });
      const colour = "hsl(" + hue(node.types[0] || "") + ",55%,55%)";
      group.append(svgEl("circle", { cx: x, cy: y, r: centre ? 11 : 7, fill: colour }));
      const label = node.label.length > 22 ? node.label.slice(0, 21) + "…" : node.label;
      // Labels sit outside the ring, anchored away from the centre, so neighbours do not overlap.
      const cos = (x - middle) / radius;
      const sin = (y - centreY) / radius;
      const text = centre
        ? { x, y: y + 26, "text-anchor": "middle" }
        : {
          x: x + cos * 11,
          y: y + sin * 11 + 4,
          "text-anchor": cos > 0.25 ? "start" : cos < -0.25 ? "end" : "middle",
        };
      if (!centre && Math.abs(cos) <= 0.25) text.y = y + (sin > 0 ? 20 : -11);
      group.append(svgEl("text", text, label));
      group.append(svgEl("title", {}, node.label + "\n" + node.iri));
      svg.append(group);
    }
    if (others.length) $("graph").replaceChildren(svg);
    else $("graph").replaceChildren(el("p", { class: "empty", text: "No neighbours." }));
  }

  /** An image document with the boxes where the entity was found (a face, words, an object). */
  function imageWithBoxes(d) {
    const NS = "http://www.w3.org/2000/svg";
    const [width, height] = d.image_size;
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    svg.setAttribute("class", "media-image");
    const image = document.createElementNS(NS, "image");
    image.setAttribute("href", d.media);
    image.setAttribute("width", width);
    image.setAttribute("height", height);
    svg.append(image);
    for (const m of d.mentions.filter((m) => m.bbox)) {
      const [left, top, right, bottom] = m.bbox;
      const box = document.createElementNS(NS, "rect");
      Object.entries({ x: left, y: top, width: right - left, height: bottom - top, class: "mention-box" })
        .forEach(([k, v]) => box.setAttribute(k, v));
      const title = document.createElementNS(NS, "title");
      title.textContent = m.surface + " · " + m.method + " · " + m.score.toFixed(2);
      box.append(title);
      svg.append(box);
    }
    return svg;
  }

  function mentionFacts(d) {
    return el("ul", { class: "media-mentions" }, d.mentions.map((m) => {
      const where = m.bbox ? "box " + m.bbox.map((v) => Math.round(v)).join(", ")
        : m.time_span ? m.time_span.map((v) => v.toFixed(2) + " s").join(" – ") : "";
      return el("li", {}, el("span", { class: "source", text: m.method.split(":")[0] }), " ",
        m.surface + " · score " + m.score.toFixed(2) + (where ? " · " + where : ""));
    }));
  }

  function renderDocuments(documents) {
    if (!documents.length) return;
    const list = el("ul", { class: "mentions" });
    for (const d of documents) {
      const item = el("li", { class: "document-" + (d.modality || "text") },
        el("span", { class: "title", text: d.title || d.id }), " ", el("code", { text: d.id }));
      if (d.modality === "image" && d.image_size) item.append(imageWithBoxes(d));
      if (d.modality === "audio") item.append(el("audio", { controls: true, preload: "none", src: d.media }));
      if (d.mentions && d.mentions.length) item.append(mentionFacts(d));
      item.append(el("p", {}, safeSnippet(d.snippet)));
      list.append(item);
    }
    $("entity-documents").replaceChildren(el("h3", { class: "section", text: "Mentioned in" }), list);
  }

  // ---------------------------------------------------------------- editor completion

  function wordAt(cm) {
    const cursor = cm.getCursor();
    const line = cm.getLine(cursor.line);
    let start = cursor.ch;
    while (start > 0 && /[\w:.\-]/.test(line.charAt(start - 1))) start -= 1;
    return { text: line.slice(start, cursor.ch), from: CodeMirror.Pos(cursor.line, start), to: cursor };
  }

  function ensurePrefix(cm, name) {
    if (!name || !(name in prefixes)) return;
    const declared = new RegExp("PREFIX\\s+" + name.replace(/[.-]/g, "\\$&") + ":", "i");
    if (!declared.test(cm.getValue())) {
      cm.replaceRange("PREFIX " + name + ": <" + prefixes[name] + ">\n", CodeMirror.Pos(0, 0));
    }
  }

  function completion(s) {
    const curie = s.curie || (s.kind === "prefix" ? s.label : null);
    const text = curie || "<" + s.iri + ">";
    const prefixName = curie ? curie.split(":")[0] : null;
    return {
      text,
      displayText: (s.kind === "entity" ? s.label + " — " + s.detail : text + "  " + (s.kind === "prefix" ? s.iri : s.label)),
      className: "hint-" + s.kind,
      hint(cm, data, chosen) {
        cm.replaceRange(chosen.text, data.from, data.to);
        ensurePrefix(cm, prefixName);
      },
    };
  }

  function sparqlHint(cm, callback) {
    const word = wordAt(cm);
    if (!word.text || word.text.startsWith("?") || word.text.startsWith("$")) return callback(null);
    getJson("/suggest?limit=15&q=" + encodeURIComponent(word.text))
      .then((found) => {
        const list = found.suggestions.map(completion);
        callback(list.length ? { list, from: word.from, to: word.to } : null);
      })
      .catch(() => callback(null));
  }
  sparqlHint.async = true;

  function setUpEditor() {
    editor = CodeMirror.fromTextArea($("sparql"), {
      mode: "application/sparql-query",
      lineNumbers: true,
      matchBrackets: true,
      indentUnit: 2,
      viewportMargin: Infinity,
      extraKeys: {
        "Ctrl-Space": (cm) => cm.showHint({ hint: sparqlHint, completeSingle: false }),
        "Ctrl-Enter": () => runFromEditor(),
        "Cmd-Enter": () => runFromEditor(),
      },
    });
    editor.on("inputRead", (cm, change) => {
      if (change.origin !== "+input" || !/[\w:]$/.test(change.text.join(""))) return;
      const word = wordAt(cm).text;
      if (word.length >= 2 && !/^[?$]/.test(word) && !/^\d/.test(word)) {
        cm.showHint({ hint: sparqlHint, completeSingle: false });
      }
    });
  }

  function runFromEditor() {
    navigate({ mode: "sparql", query: editor.getValue() });
  }

  // ---------------------------------------------------------------- routing

  function showMode(mode) {
    for (const node of document.querySelectorAll("[data-for]")) {
      node.classList.toggle("off-mode", !node.dataset.for.split(" ").includes(mode));
    }
    for (const link of document.querySelectorAll(".modes a")) {
      link.classList.toggle("active", link.dataset.mode === mode);
      link.href = hashFor(Object.assign(readState(), { mode: link.dataset.mode }));
    }
    $("editor-title").textContent = mode === "ask" ? "Generated SPARQL" : "SPARQL";
    editor.refresh();
  }

  async function route() {
    const state = readState();
    showMode(state.mode);
    const key = state.mode === "sparql" ? state.query : state.q;
    if (done[state.mode] !== key || done.mode !== state.mode) {
      done[state.mode] = key;
      done.mode = state.mode;
      if (state.mode === "ask") await ask(state.q);
      else if (state.mode === "sparql") await runSparql(state.query);
      else await search(state.q);
    }
    if (state.entity !== done.entity) {
      done.entity = state.entity;
      if (state.entity) await openEntity(state.entity);
      else $("entity-panel").hidden = true;
    }
  }

  // ---------------------------------------------------------------- start

  async function loadExamples() {
    let examples;
    try {
      examples = await getJson("/examples");
    } catch (error) {
      return;
    }
    const select = $("examples");
    examples.queries.forEach((example, i) => select.append(el("option", { value: String(i), text: example.title })));
    select.addEventListener("change", () => {
      const example = examples.queries[Number(select.value)];
      select.value = "";
      if (example) navigate({ mode: "sparql", query: example.sparql });
    });
    $("example-questions").replaceChildren(...examples.questions.map((q) =>
      el("a", { class: "chip example", href: hashFor({ mode: "ask", q, entity: readState().entity }), text: q })));
    if (!editor.getValue() && examples.queries.length) setEditor(examples.queries[0].sparql);
  }

  async function loadStats() {
    try {
      const health = await getJson("/health");
      $("kb-stats").textContent = formatNumber(health.triples) + " triples · " +
        formatNumber(health.entities) + " entities · " + formatNumber(health.documents) + " documents";
    } catch (error) {
      $("kb-stats").textContent = "server unreachable";
    }
  }

  async function start() {
    setUpEditor();
    try {
      prefixes = (await getJson("/prefixes")).prefixes;
    } catch (ignored) {
      prefixes = {};
    }
    $("ask-form").addEventListener("submit", (event) => {
      event.preventDefault();
      done.ask = null;
      navigate({ mode: "ask", q: $("question").value });
    });
    $("search-form").addEventListener("submit", (event) => {
      event.preventDefault();
      done.search = null;
      navigate({ mode: "search", q: $("search-q").value });
    });
    $("run").addEventListener("click", () => {
      done.sparql = null;
      runFromEditor();
    });
    $("close-entity").addEventListener("click", () => navigate({ entity: "" }));
    $("download-csv").addEventListener("click", downloadCsv);
    $("download-json").addEventListener("click", downloadJson);
    $("share").addEventListener("click", share);
    window.addEventListener("hashchange", route);
    await Promise.all([loadExamples(), loadStats()]);
    await route();
    document.body.dataset.ready = "true";
  }

  start();
})();
