// The schema panel: table names load once (fast even on thousands of tables),
// columns load when a table is opened; "Insert" puts a name into the question.
// Everything is set with textContent.
(function () {
  "use strict";
  var SHOWN = 200;

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); });
  }

  function insertIntoQuestion(text) {
    var box = document.getElementById("id_question");
    if (!box) { return; }
    var start = box.selectionStart || box.value.length;
    var end = box.selectionEnd || box.value.length;
    var before = box.value.slice(0, start);
    var spacer = before && !/\s$/.test(before) ? " " : "";
    box.value = before + spacer + text + box.value.slice(end);
    var caret = (before + spacer + text).length;
    box.focus();
    box.setSelectionRange(caret, caret);
    box.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function describe(panel, item, name) {
    if (item.dataset.loaded) { return; }
    item.dataset.loaded = "1";
    var holder = item.querySelector(".columns");
    holder.textContent = "Loading columns…";
    getJSON(panel.dataset.schemaUrl + "/" + encodeURIComponent(name)).then(function (table) {
      holder.textContent = "";
      if (table.comment) {
        var note = document.createElement("p");
        note.className = "muted";
        note.textContent = table.comment;
        holder.appendChild(note);
      }
      var list = document.createElement("ul");
      table.columns.forEach(function (column) {
        var li = document.createElement("li");
        var code = document.createElement("code");
        code.textContent = column.name;
        li.appendChild(code);
        var notes = [column.type];
        if (column.primary_key) { notes.push("primary key"); }
        if (column.references) { notes.push("→ " + column.references); }
        if (!column.nullable) { notes.push("not null"); }
        if (column.comment) { notes.push(column.comment); }
        var span = document.createElement("span");
        span.className = "muted";
        span.textContent = " " + notes.join(" · ");
        li.appendChild(span);
        list.appendChild(li);
      });
      holder.appendChild(list);
    }).catch(function () {
      holder.textContent = "Could not load the columns.";
      delete item.dataset.loaded;
    });
  }

  function render(panel, tables, needle) {
    var list = panel.querySelector(".schema-list");
    var status = panel.querySelector(".schema-status");
    var lowered = needle.toLowerCase();
    var matching = tables.filter(function (t) { return t.name.toLowerCase().indexOf(lowered) !== -1; });
    list.textContent = "";
    matching.slice(0, SHOWN).forEach(function (table) {
      var li = document.createElement("li");
      var details = document.createElement("details");
      var summary = document.createElement("summary");
      summary.textContent = table.name;
      if (table.kind === "view") {
        var badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = "view";
        summary.appendChild(document.createTextNode(" "));
        summary.appendChild(badge);
      }
      var insert = document.createElement("button");
      insert.type = "button";
      insert.className = "link insert";
      insert.textContent = "Insert";
      insert.setAttribute("aria-label", "Insert " + table.name + " into the question");
      insert.addEventListener("click", function (event) {
        event.preventDefault();
        insertIntoQuestion(table.name);
      });
      summary.appendChild(document.createTextNode(" "));
      summary.appendChild(insert);
      var columns = document.createElement("div");
      columns.className = "columns";
      details.appendChild(summary);
      details.appendChild(columns);
      details.addEventListener("toggle", function () {
        if (details.open) { describe(panel, li, table.name); }
      });
      li.appendChild(details);
      list.appendChild(li);
    });
    var total = tables.length + " table" + (tables.length === 1 ? "" : "s");
    if (!needle) {
      status.textContent = total + (tables.length > SHOWN ? " (first " + SHOWN + " shown; type to find others)" : "");
    } else {
      status.textContent = matching.length + " of " + total + " match" +
        (matching.length > SHOWN ? " (first " + SHOWN + " shown)" : "");
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var panel = document.getElementById("schema-panel");
    if (!panel) { return; }
    var search = panel.querySelector("#schema-search");
    getJSON(panel.dataset.schemaUrl).then(function (body) {
      panel._tables = body.tables;
      render(panel, body.tables, search.value.trim());
    }).catch(function () {
      panel.querySelector(".schema-status").textContent = "Could not load the schema.";
    });
    search.addEventListener("input", function () {
      if (panel._tables) { render(panel, panel._tables, search.value.trim()); }
    });
  });
})();
