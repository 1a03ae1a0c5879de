// Answers in the page: chart (vega-embed, served from our own static files),
// chart/table toggle, sortable and paged result tables, long cells on demand.
// Every value is set with textContent; specs come from the server, which builds
// them from the stored rows with no expression or URL from the model.
(function () {
  "use strict";

  function darkMode() {
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  }

  function specOf(holder) {
    if (holder._spec !== undefined) { return holder._spec; }
    var source = document.getElementById(holder.getAttribute("data-chart"));
    if (!source) { return null; }
    try { return JSON.parse(source.textContent); } catch (e) { return null; }
  }

  function renderChart(block) {
    var holder = block.querySelector("[data-chart]");
    if (!holder || holder.dataset.rendered || typeof window.vegaEmbed !== "function") { return; }
    var spec = specOf(holder);
    if (!spec) { return; }
    holder.dataset.rendered = "1";
    holder.textContent = "";
    window.vegaEmbed(holder, spec, {
      renderer: "svg",
      // The Content-Security-Policy allows no eval and no inline style: Vega
      // interprets its expressions instead of compiling them to functions, and
      // the embed's and tooltip's styles come from vendor/vega/vega-embed.css.
      ast: true,
      expr: window.vega.expressionInterpreter,
      defaultStyle: false,
      forceActionsMenu: true,
      tooltip: { disableDefaultStyle: true },
      theme: darkMode() ? "dark" : undefined,
      // The card's own background shows through, in light and dark mode alike.
      config: { background: "transparent" },
      // Downloads are the labelled buttons under the chart, not a "…" menu.
      actions: false
    }).then(function (embedded) {
      holder._view = embedded.view;
    }).catch(function () {
      holder.textContent = "The chart could not be drawn; the table has the rows.";
      show(block, "table");
    });
  }

  function show(block, view) {
    var chart = block.querySelector("[data-chart]");
    var table = block.querySelector("[data-view=table]");
    if (!chart || !table) { return; }
    if (view === "chart" && !specOf(chart)) { view = "table"; }
    chart.hidden = view !== "chart";
    var downloads = block.querySelector(".chart-downloads");
    if (downloads) { downloads.hidden = view !== "chart"; }
    table.hidden = view !== "table";
    var pager = block.querySelector(".pager");
    if (pager && view === "chart") { pager.dataset.hiddenByChart = "1"; pager.hidden = true; }
    if (pager && view === "table" && pager.dataset.hiddenByChart) {
      delete pager.dataset.hiddenByChart;
      pager.hidden = Number(block.dataset.rowCount || 0) <= pageSize(block);
    }
    block.querySelectorAll("[data-show]").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.dataset.show === view));
    });
    if (view === "chart") { renderChart(block); }
  }

  function pageSize(block) { return Number(block.dataset.pageSize || 25); }

  // Rows are fetched once, on the first sort or page change: the page itself
  // carries only the first page of each result.
  function loadRows(block) {
    if (block._rows) { return Promise.resolve(block._rows); }
    return fetch(block.dataset.rowsUrl, { credentials: "same-origin",
      headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (data) {
        block._rows = data.rows.map(function (row, i) { return { i: i, cells: row }; });
        block._types = data.column_types || [];
        block._page = 0;
        return block._rows;
      });
  }

  function cellText(value) {
    if (value === null || value === undefined) { return null; }
    if (typeof value === "object") { return JSON.stringify(value); }
    return String(value);
  }

  function renderCell(td, value) {
    var text = cellText(value);
    td.textContent = "";
    if (text === null) {
      var nul = document.createElement("span");
      nul.className = "null";
      nul.textContent = "NULL";
      td.appendChild(nul);
      return;
    }
    if (text.length > 120) {
      var span = document.createElement("span");
      span.className = "long";
      span.dataset.full = text;
      span.textContent = text.slice(0, 120) + "…";
      var more = document.createElement("button");
      more.type = "button";
      more.className = "link more";
      more.textContent = "show all";
      td.appendChild(span);
      td.appendChild(document.createTextNode(" "));
      td.appendChild(more);
      return;
    }
    td.textContent = text;
  }

  function renderPage(block) {
    var rows = block._rows;
    var size = pageSize(block);
    var pages = Math.max(1, Math.ceil(rows.length / size));
    block._page = Math.min(Math.max(0, block._page), pages - 1);
    var start = block._page * size;
    var slice = rows.slice(start, start + size);
    var body = block.querySelector("tbody");
    var heads = block.querySelectorAll("thead th");
    body.textContent = "";
    slice.forEach(function (row) {
      var tr = document.createElement("tr");
      row.cells.forEach(function (value, col) {
        var td = document.createElement("td");
        if (heads[col] && heads[col].classList.contains("num")) { td.className = "num"; }
        renderCell(td, value);
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    var label = block.querySelector(".page-label");
    if (label) {
      label.textContent = "Rows " + (rows.length ? start + 1 : 0) + "–" +
        (start + slice.length) + " of " + rows.length;
    }
    var prev = block.querySelector("[data-page=prev]");
    var next = block.querySelector("[data-page=next]");
    if (prev) { prev.disabled = block._page === 0; }
    if (next) { next.disabled = block._page >= pages - 1; }
  }

  function compare(a, b, numeric) {
    if (a === null || a === undefined) { return b === null || b === undefined ? 0 : 1; }
    if (b === null || b === undefined) { return -1; }
    if (numeric) { return Number(a) - Number(b); }
    return String(a).localeCompare(String(b), undefined, { numeric: true });
  }

  function sortBy(block, th) {
    var col = Number(th.dataset.col);
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    loadRows(block).then(function (rows) {
      var numeric = th.classList.contains("num");
      rows.sort(function (x, y) {
        var order = compare(x.cells[col], y.cells[col], numeric);
        if (!ascending) { order = -order; }
        return order || x.i - y.i;
      });
      block.querySelectorAll("thead th").forEach(function (other) {
        other.removeAttribute("aria-sort");
      });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      block._page = 0;
      renderPage(block);
    });
  }

  // Save the chart as an image file, named for its turn.
  function download(block, kind) {
    var holder = block.querySelector("[data-chart]");
    if (!holder || !holder._view) { return; }
    holder._view.toImageURL(kind, kind === "png" ? 2 : 1).then(function (url) {
      var link = document.createElement("a");
      link.href = url;
      link.download = "sqlagent-chart-" + (block.dataset.turnId || "result") + "." + kind;
      document.body.appendChild(link);
      link.click();
      link.remove();
    });
  }

  function csrf(node) {
    var input = node.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  // The chart picker: the server builds the spec from the stored rows (and
  // remembers the choice on the turn); the page draws what it returns.
  function pick(picker) {
    var block = picker.closest("[data-result]");
    var value = function (name) { return picker.querySelector("[data-pick=" + name + "]").value; };
    var status = picker.querySelector(".chart-picker-status");
    status.textContent = "";
    fetch(picker.dataset.chartUrl, {
      method: "PUT",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json",
        "X-CSRFToken": csrf(picker) },
      body: JSON.stringify({ type: value("type"), x: value("x"), y: value("y"),
        series: value("series") })
    }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    }).then(function (reply) {
      if (!reply.ok) {
        status.textContent = reply.body.detail || "That chart does not fit these columns.";
        return;
      }
      var holder = block.querySelector("[data-chart]");
      var downloads = block.querySelector(".chart-downloads");
      var toggle = block.querySelector(".view-toggle");
      holder._spec = reply.body.chart;
      delete holder.dataset.rendered;
      holder._view = null;
      if (downloads) { downloads.hidden = !reply.body.chart; }
      if (toggle) { toggle.hidden = !reply.body.chart; }
      show(block, reply.body.chart ? "chart" : "table");
    }).catch(function () { status.textContent = "The chart could not be saved."; });
  }

  document.addEventListener("change", function (event) {
    var picker = event.target.closest(".chart-picker");
    if (picker && event.target.matches("[data-pick]")) { pick(picker); }
  });

  document.addEventListener("click", function (event) {
    var target = event.target;
    var block = target.closest("[data-result]");
    if (!block) { return; }
    var save = target.closest("[data-download]");
    if (save) { download(block, save.dataset.download); return; }
    var toggle = target.closest("[data-show]");
    if (toggle) { show(block, toggle.dataset.show); return; }
    var sort = target.closest("button.sort");
    if (sort) { sortBy(block, sort.closest("th")); return; }
    var page = target.closest("[data-page]");
    if (page) {
      loadRows(block).then(function () {
        block._page += page.dataset.page === "next" ? 1 : -1;
        renderPage(block);
      });
      return;
    }
    var more = target.closest("button.more");
    if (more) {
      var long = more.parentElement.querySelector(".long");
      if (long) { long.textContent = long.dataset.full; long.classList.add("expanded"); }
      more.remove();
      return;
    }
  });

  function enhance(root) {
    (root || document).querySelectorAll("[data-result]").forEach(function (block) {
      if (block.querySelector("[data-chart]")) { show(block, "chart"); }
    });
  }

  window.SQLAgentAnswers = { enhance: enhance };
  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
})();
