/*
 * The agent console's pages: the queue and one conversation, both polling the
 * console API every two seconds. Every value is written with textContent; every
 * POST carries the CSRF token from the page's <meta name="csrf-token">.
 */
(function () {
  "use strict";

  var POLL_MS = 2000;
  var PROFILE_MS = 60000;
  var main = document.getElementById("main");
  var page = main ? main.getAttribute("data-page") : null;
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) {
      node.removeChild(node.firstChild);
    }
  }

  function api(method, path, body) {
    var headers = { Accept: "application/json" };
    if (method !== "GET") {
      headers["Content-Type"] = "application/json";
      headers["X-CSRF-Token"] = csrf;
    }
    return fetch(path, {
      method: method,
      credentials: "same-origin",
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(function (response) {
      return response
        .json()
        .catch(function () {
          return {};
        })
        .then(function (data) {
          if (response.status === 401) {
            var expired = data && data.error === "session expired";
            window.location.assign("/console/login" + (expired ? "?expired=1" : ""));
            throw new Error("logged out");
          }
          if (!response.ok) {
            throw new Error((data && data.error) || "request failed (" + response.status + ")");
          }
          return data;
        });
    });
  }

  function waited(seconds) {
    var minutes = Math.floor(seconds / 60);
    if (minutes < 1) {
      return "under a minute";
    }
    if (minutes < 60) {
      return minutes + " min";
    }
    return Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
  }

  function money(pence, currency) {
    var sign = pence < 0 ? "-" : "";
    pence = Math.abs(Math.round(pence));
    var rest = String(pence % 100);
    var amount = Math.floor(pence / 100) + "." + (rest.length < 2 ? "0" + rest : rest);
    return currency && currency !== "GBP" ? sign + amount + " " + currency : sign + "£" + amount;
  }

  function day(iso) {
    if (!iso) {
      return "";
    }
    var d = new Date(iso);
    return isNaN(d) ? String(iso) : d.toLocaleDateString("en-GB", { day: "numeric", month: "short", year: "numeric" });
  }

  function clock(seconds) {
    if (typeof seconds !== "number") {
      return "";
    }
    return new Date(seconds * 1000).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
  }

  var PRIORITY = { 1: "Urgent", 2: "High", 3: "Normal", 4: "Low" };

  // ------------------------------------------------------------------ queue

  var lastQueue = "";

  function setText(node, text) {
    if (node.textContent !== text) {
      node.textContent = text; // unchanged text is not announced again
    }
  }

  function renderQueue(data) {
    var body = document.getElementById("queue-rows");
    var status = document.getElementById("queue-status");
    // Redraw only when something visible changed, so keyboard focus stays put.
    var key = JSON.stringify(
      data.tickets.map(function (t) {
        return [t.ticket_id, t.queue_priority, waited(t.waiting_seconds), t.status, t.assigned_to, t.summary];
      })
    );
    if (key === lastQueue) {
      return;
    }
    lastQueue = key;
    var focused = document.activeElement && body.contains(document.activeElement)
      ? document.activeElement.getAttribute("href")
      : null;
    clear(body);
    if (!data.tickets.length) {
      setText(status, "Nobody is waiting. This list updates by itself.");
      return;
    }
    var open = data.tickets.filter(function (t) {
      return t.status === "open";
    }).length;
    setText(status, open + " waiting for an agent, " + (data.tickets.length - open) + " being handled.");
    data.tickets.forEach(function (t) {
      var row = el("tr", "queue-row priority-" + t.queue_priority + (t.mine ? " mine" : ""));
      var link = el("a", null, "#" + t.ticket_id);
      link.href = "/console/tickets/" + encodeURIComponent(t.ticket_id);
      var first = el("td");
      first.appendChild(link);
      row.appendChild(first);
      var prio = PRIORITY[t.queue_priority] || String(t.queue_priority);
      if (t.queue_priority !== t.priority) {
        prio += " (was " + (PRIORITY[t.priority] || t.priority) + ")";
      }
      row.appendChild(el("td", null, prio));
      row.appendChild(el("td", null, waited(t.waiting_seconds)));
      row.appendChild(el("td", null, t.reason.replace(/_/g, " ")));
      row.appendChild(el("td", null, t.customer_name || (t.customer_id ? "#" + t.customer_id : "guest")));
      row.appendChild(el("td", null, t.status === "claimed" ? (t.mine ? "yours" : "claimed by " + t.assigned_to) : "waiting"));
      row.appendChild(el("td", "summary-cell", t.summary));
      body.appendChild(row);
    });
    if (focused) {
      var again = body.querySelector('a[href="' + focused + '"]');
      if (again) {
        again.focus();
      }
    }
  }

  function pollQueue() {
    api("GET", "/console/api/queue")
      .then(renderQueue)
      .catch(function (error) {
        document.getElementById("queue-status").textContent = "Could not refresh: " + error.message;
      })
      .then(function () {
        setTimeout(pollQueue, POLL_MS);
      });
  }

  // ------------------------------------------------------------------ one ticket

  var ticketId = main ? main.getAttribute("data-ticket-id") : null;
  var base = "/console/api/tickets/" + encodeURIComponent(ticketId || "");
  var lastTranscript = "";
  var current = null;

  function actionStatus(text) {
    document.getElementById("action-status").textContent = text || "";
  }

  function renderEntry(entry) {
    var who = entry.who;
    var row = el("div", "line line-" + who);
    var label = { user: "Customer", bot: "Assistant", agent: (entry.agent || "Agent") + " (agent)", notice: "Notice" }[who] || who;
    var meta = el("div", "line-meta");
    meta.appendChild(el("span", "line-who", label));
    if (entry.time) {
      meta.appendChild(el("span", "line-time", clock(entry.time)));
    }
    if (entry.intent) {
      meta.appendChild(el("span", "line-intent", entry.intent));
    }
    row.appendChild(meta);
    if (entry.kind === "products") {
      var list = el("ul", "line-products");
      (entry.items || []).forEach(function (item) {
        list.appendChild(el("li", null, item.name + " · " + (item.price || "")));
      });
      row.appendChild(list);
    } else if (entry.kind === "image") {
      row.appendChild(el("div", "line-text", "[image] " + (entry.image || "")));
    } else {
      row.appendChild(el("div", "line-text", entry.text));
    }
    return row;
  }

  function renderTranscript(transcript, rasaError) {
    var box = document.getElementById("transcript");
    var shown = document.getElementById("shown-products");
    if (!transcript) {
      clear(box);
      box.appendChild(el("p", "error", rasaError || "The conversation cannot be read."));
      lastTranscript = "";
      return;
    }
    var key = JSON.stringify(transcript.entries);
    if (key === lastTranscript) {
      return;
    }
    lastTranscript = key;
    var atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    clear(box);
    clear(shown);
    transcript.entries.forEach(function (entry) {
      box.appendChild(renderEntry(entry));
      if (entry.kind === "products") {
        (entry.items || []).forEach(function (item) {
          shown.appendChild(el("li", null, item.name + " · " + (item.price || "") + (item.reason ? " (" + item.reason + ")" : "")));
        });
      }
    });
    if (!shown.firstChild) {
      shown.appendChild(el("li", "muted", "None yet."));
    }
    if (atBottom) {
      box.scrollTop = box.scrollHeight;
    }
  }

  function renderState(data) {
    current = data;
    var t = data.ticket;
    var state = document.getElementById("ticket-state");
    var text;
    if (t.status === "closed") {
      text = "Closed.";
    } else if (data.mine) {
      text = "You have this conversation: the assistant is paused and your replies go to the customer.";
    } else if (data.claimed_by_other) {
      text = "Claimed by " + (t.assigned_name || t.assigned_to) + ": only they can answer this customer.";
    } else {
      text = "Waiting for an agent for " + waited(t.waiting_seconds) + ". Claim it to answer.";
    }
    if (data.transcript && data.transcript.handoff === "bot" && t.status !== "closed") {
      text += " (The assistant is answering until someone claims it.)";
    }
    setText(state, text);
    state.className = "ticket-state" + (data.claimed_by_other ? " other" : data.mine ? " mine" : "");
    document.getElementById("claim").disabled = t.status !== "open";
    document.getElementById("release").disabled = !data.mine;
    Array.prototype.forEach.call(document.querySelectorAll("#reply-form *, #close-form *"), function (node) {
      if ("disabled" in node) {
        node.disabled = !data.mine;
      }
    });
    document.getElementById("summary").textContent = t.summary;
    var timings = [];
    if (t.timings.first_reply_seconds !== null) {
      timings.push("First reply after " + waited(t.timings.first_reply_seconds));
    }
    if (t.timings.handle_seconds !== null) {
      timings.push("handled in " + waited(t.timings.handle_seconds));
    }
    if (t.timings.resolution) {
      timings.push("resolution: " + t.timings.resolution.replace(/_/g, " "));
    }
    document.getElementById("timings").textContent = timings.join("; ");
    var notes = document.getElementById("notes");
    clear(notes);
    t.notes.forEach(function (note) {
      var item = el("li");
      item.appendChild(el("span", "note-meta", note.author + ", " + day(note.created_at)));
      item.appendChild(el("div", "note-text", note.text));
      notes.appendChild(item);
    });
    if (!t.notes.length) {
      notes.appendChild(el("li", "muted", "No notes yet."));
    }
    renderTranscript(data.transcript, data.rasa_error);
  }

  function fact(list, name, value) {
    list.appendChild(el("dt", null, name));
    list.appendChild(el("dd", null, value));
  }

  function percent(x) {
    return Math.round(x * 100) + "%";
  }

  function renderProfile(p) {
    document.getElementById("next-step").textContent = p.next_step;
    var customer = document.getElementById("customer");
    clear(customer);
    if (p.customer) {
      var c = p.customer;
      fact(customer, "Name", c.name + " (#" + c.customer_id + ")");
      fact(customer, "E-mail", c.email);
      fact(customer, "Country", c.country);
      fact(customer, "Segment", p.scores.segment);
      fact(customer, "Lifetime value", money(c.lifetime_value_pence, "GBP"));
      fact(customer, "Orders", c.n_orders + " (" + c.n_cancelled + " cancelled, " + c.n_refunds + " refunds)");
      fact(customer, "Customer since", day(c.first_order_at));
      fact(customer, "Last order", day(c.last_order_at));
    } else {
      fact(customer, "Visitor", "Not signed in: identity not verified");
    }
    var scores = document.getElementById("scores");
    clear(scores);
    [
      ["propensity", "Likely to buy again", p.scores.propensity, p.scores.high_propensity],
      ["churn_risk", "Churn risk", p.scores.churn_risk, p.scores.churn_risk > 0.5],
      ["refund_risk", "Refund risk", p.scores.refund_risk, p.scores.high_risk_refund],
    ].forEach(function (spec) {
      var block = el("div", "score" + (spec[3] ? " flagged" : ""));
      block.appendChild(el("div", "score-head", spec[1] + ": " + percent(spec[2]) + (spec[3] ? " (high)" : "")));
      var reasons = el("ul", "score-reasons");
      (p.scores.reasons[spec[0]] || []).forEach(function (reason) {
        reasons.appendChild(el("li", null, reason));
      });
      block.appendChild(reasons);
      scores.appendChild(block);
    });
    if (p.scores.high_value) {
      scores.appendChild(el("p", "flag", "High-value customer"));
    }
    var orders = document.getElementById("orders");
    clear(orders);
    p.orders.forEach(function (o) {
      var row = el("tr");
      var number = el("td");
      number.appendChild(el("strong", null, o.order_number));
      number.appendChild(el("div", "muted small", o.items));
      row.appendChild(number);
      row.appendChild(el("td", null, day(o.placed_at)));
      row.appendChild(el("td", null, o.status + (o.n_refunds ? ", " + o.n_refunds + " refund(s)" : "")));
      row.appendChild(el("td", null, money(o.total_pence, o.currency)));
      orders.appendChild(row);
    });
    if (!p.orders.length) {
      var empty = el("tr");
      var cell = el("td", "muted", "No orders to show.");
      cell.colSpan = 4;
      empty.appendChild(cell);
      orders.appendChild(empty);
    }
    var recs = document.getElementById("recommendations");
    clear(recs);
    p.recommendations.forEach(function (r) {
      recs.appendChild(el("li", null, r.name + " · " + money(r.price_pence, "GBP") + " (" + r.reason + ")"));
    });
    if (!p.recommendations.length) {
      recs.appendChild(el("li", "muted", p.recommendations_note || "None."));
    }
  }

  function pollTicket() {
    api("GET", base)
      .then(renderState)
      .catch(function (error) {
        document.getElementById("ticket-state").textContent = "Could not refresh: " + error.message;
      })
      .then(function () {
        setTimeout(pollTicket, POLL_MS);
      });
  }

  function loadProfile() {
    api("GET", base + "/profile")
      .then(renderProfile)
      .catch(function (error) {
        document.getElementById("next-step").textContent = "Profile not available: " + error.message;
      });
  }

  function act(path, body, done) {
    actionStatus("");
    return api("POST", base + path, body || {})
      .then(function (data) {
        if (data.warning) {
          actionStatus(data.warning);
        }
        if (done) {
          done(data);
        }
        return api("GET", base).then(renderState);
      })
      .catch(function (error) {
        actionStatus(error.message);
      });
  }

  function startTicket() {
    document.getElementById("claim").addEventListener("click", function () {
      act("/claim", {}, function () {
        document.getElementById("reply").focus();
      });
    });
    document.getElementById("release").addEventListener("click", function () {
      act("/release");
    });
    document.getElementById("reply-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var box = document.getElementById("reply");
      var text = box.value.trim();
      if (!text) {
        return;
      }
      act("/reply", { text: text }, function () {
        // The agent may have typed the next message while this one was sent.
        if (box.value.trim() === text) {
          box.value = "";
        }
        box.focus();
      });
    });
    document.getElementById("note-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var box = document.getElementById("note");
      var note = box.value;
      act("/notes", { text: note }, function () {
        if (box.value === note) {
          box.value = "";
        }
      });
    });
    document.getElementById("close-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var resolution = document.getElementById("resolution").value;
      if (!resolution) {
        actionStatus("Pick a resolution first.");
        return;
      }
      act("/close", { resolution: resolution }, function () {
        actionStatus("Closed; the assistant has the conversation again.");
      });
    });
    pollTicket();
    loadProfile();
    setInterval(loadProfile, PROFILE_MS);
  }

  if (page === "queue") {
    pollQueue();
  } else if (page === "ticket") {
    startTicket();
  }
})();
