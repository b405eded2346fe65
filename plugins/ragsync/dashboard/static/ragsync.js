/* RAG Sync pages: actions (POST JSON with the Airflow session cookie), row selection, auto-refresh. */
(function () {
  "use strict";

  var base = document.body.getAttribute("data-base") || "";
  var page = document.body.getAttribute("data-page") || "";
  var FLASH_KEY = "ragsync.flash";

  function flash(message, kind) {
    var box = document.getElementById("flash");
    if (!box) { return; }
    box.textContent = message;
    box.className = "flash " + (kind || "ok");
    box.hidden = false;
  }

  function number(value) {
    return Number(value || 0).toLocaleString("en-US");
  }

  function describe(action, data) {
    switch (action) {
      case "test-connection":
        return data.message;
      case "process-queue":
        return "Created DAG run " + data.run_id + " of " + data.dag_id + " (" + data.state + ")" +
          (data.notes && data.notes.length ? ". Note: " + data.notes.join("; ") : ".");
      case "retry":
        return number(data.retried) + " item(s) queued again" +
          (data.superseded ? ", " + number(data.superseded) + " superseded by newer versions" : "") +
          (data.stuck_reset ? ", " + number(data.stuck_reset) + " stuck item(s) back to pending" : "") + ".";
      case "clear":
        return "Deleted " + number(data.deleted) + " " + data.status + " item(s).";
      case "delete":
        return "Deleted " + number(data.deleted) + " item(s).";
      default:
        return "Done.";
    }
  }

  function request(method, path, body) {
    var options = {
      method: method,
      credentials: "same-origin",  // the Airflow UI's _token cookie signs every call in
      headers: { "Accept": "application/json" }
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(base + path, options).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (ignored) { data = null; }
        if (response.ok) { return data; }
        var detail = data && data.detail;
        if (detail && typeof detail !== "string") { detail = JSON.stringify(detail); }
        if (response.status === 401) {
          detail = "Your Airflow session has expired: sign in again (reload the page).";
        } else if (response.status === 403) {
          detail = "Not allowed: your Airflow user lacks the permission for this action" + (detail ? " (" + detail + ")" : "") + ".";
        }
        throw new Error(detail || ("HTTP " + response.status));
      });
    });
  }

  function selectedIds() {
    var boxes = document.querySelectorAll("input.row-select:checked");
    return Array.prototype.map.call(boxes, function (box) { return Number(box.value); });
  }

  function updateSelection() {
    var ids = selectedIds();
    var counter = document.getElementById("selected-count");
    if (counter) { counter.textContent = ids.length + " selected"; }
    document.querySelectorAll("[data-selection='ids']").forEach(function (button) {
      button.disabled = ids.length === 0 || button.hasAttribute("data-forbidden");
    });
    var all = document.getElementById("select-all");
    var boxes = document.querySelectorAll("input.row-select");
    if (all) { all.checked = boxes.length > 0 && ids.length === boxes.length; }
  }

  function runAction(button) {
    var action = button.getAttribute("data-action");
    var body = {};
    if (button.hasAttribute("data-body")) { body = JSON.parse(button.getAttribute("data-body")); }
    if (button.getAttribute("data-selection") === "ids") {
      body = { ids: selectedIds() };
      if (body.ids.length === 0) { return; }
    }
    var confirmText = button.getAttribute("data-confirm");
    if (confirmText) {
      askFirst(confirmText, button.textContent.trim(), function () { send(button, action, body); });
    } else {
      send(button, action, body);
    }
  }

  // window.confirm() is blocked inside the Airflow UI's sandboxed iframe (no allow-modals),
  // so the confirmation is a plain in-page panel.
  function askFirst(text, verb, onConfirm) {
    var panel = document.getElementById("confirm");
    document.getElementById("confirm-text").textContent = text;
    var ok = document.getElementById("confirm-ok");
    var cancel = document.getElementById("confirm-cancel");
    ok.textContent = verb;
    panel.hidden = false;
    ok.focus();
    function close() {
      panel.hidden = true;
      ok.removeEventListener("click", yes);
      cancel.removeEventListener("click", no);
    }
    function yes() { close(); onConfirm(); }
    function no() { close(); }
    ok.addEventListener("click", yes);
    cancel.addEventListener("click", no);
  }

  function send(button, action, body) {
    button.disabled = true;
    button.classList.add("busy");
    request("POST", "/api/actions/" + action, body).then(function (data) {
      var ok = action !== "test-connection" || data.ok;
      var message = describe(action, data);
      var inline = document.getElementById("test-result");
      if (action === "test-connection" && inline) {
        inline.textContent = message;
        inline.className = "inline-result " + (ok ? "ok" : "error");
      }
      try { sessionStorage.setItem(FLASH_KEY, JSON.stringify({ message: message, kind: ok ? "ok" : "error" })); } catch (ignored) { /* private mode */ }
      var after = button.getAttribute("data-after");
      if (after) { window.location.href = after; } else { window.location.reload(); }
    }).catch(function (error) {
      flash(error.message, "error");
      button.disabled = false;
      button.classList.remove("busy");
    });
  }

  function refreshOverview() {
    if (document.hidden) { return; }
    request("GET", "/api/overview").then(function (data) {
      Object.keys(data.counts).forEach(function (status) {
        var cell = document.querySelector("[data-count='" + status + "']");
        if (cell) { cell.textContent = number(data.counts[status]); }
      });
      var stamp = document.getElementById("generated-at");
      if (stamp) { stamp.textContent = data.generated_at.replace("T", " ").replace("Z", " UTC"); }
    }).catch(function () { /* the next reload shows the error page */ });
  }

  document.addEventListener("DOMContentLoaded", function () {
    try {
      var stored = sessionStorage.getItem(FLASH_KEY);
      if (stored) {
        sessionStorage.removeItem(FLASH_KEY);
        var note = JSON.parse(stored);
        flash(note.message, note.kind);
      }
    } catch (ignored) { /* no storage */ }

    document.querySelectorAll("button[data-action]").forEach(function (button) {
      button.addEventListener("click", function () { runAction(button); });
    });
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
    var all = document.getElementById("select-all");
    if (all) {
      all.addEventListener("change", function () {
        document.querySelectorAll("input.row-select").forEach(function (box) { box.checked = all.checked; });
        updateSelection();
      });
    }
    document.querySelectorAll("input.row-select").forEach(function (box) {
      box.addEventListener("change", updateSelection);
    });
    updateSelection();
    if (page === "dashboard") { window.setInterval(refreshOverview, 15000); }
  });
}());
