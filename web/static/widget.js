/*
 * The shop's chat widget. A page embeds it with one settings object and one script:
 *
 *   <script type="application/json" id="shop-chat-settings">
 *     {"rasaUrl": "https://chat.shop.example", "apiBase": "/api/chat"}
 *   </script>
 *   <script src="/static/widget.js" defer></script>
 *
 * (or sets window.ShopChatSettings before the script). Settings:
 *   rasaUrl         the Rasa server with the socket.io channel (required)
 *   apiBase         this web app's chat API: conversation id, history, ratings
 *   productUrl      a product card's link; "{stock_code}" is filled in
 *   title           the panel's heading
 *   identityUrl, identitySelect   the demo storefront's customer selector
 * The widget loads its style sheet and the socket.io client from beside itself.
 *
 * Protocol (Rasa 3.6 socket.io channel, session_persistence on):
 *   emit "session_request" {session_id}  -> "session_confirm"; the socket joins the room
 *   emit "user_uttered" {message, session_id, metadata}
 *   receive "bot_uttered": {text, quick_replies?} | {type: "products", items}
 *     | {type: "agent_message", agent, text} (the text before it came from a person)
 *     | {type: "handoff", state, agent?, text?} (a person is awaited, joined, or left)
 *
 * The conversation id comes from the web app and lives in its signed cookie, so a
 * reload or a dropped connection continues the same conversation: after every
 * (re)connection the widget redraws the history from the server and drops live
 * messages the history already holds, so nothing is lost or shown twice. Every
 * message is rendered as text (textContent); only http(s) links become links.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var scriptUrl = script && script.src ? script.src : window.location.href;
  var ACTIVE_KEY = "shop-chat-active"; // id of a conversation with messages
  var OPEN_KEY = "shop-chat-open"; // "1" while the panel is open
  var IDENTITY_KEY = "shop-chat-identity";
  var TYPING_TIMEOUT_MS = 20000;
  var LINK = /https?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)]/g;

  function readSettings() {
    var node = document.getElementById("shop-chat-settings");
    if (node) {
      try {
        return JSON.parse(node.textContent || "{}") || {};
      } catch (e) {
        return {};
      }
    }
    return window.ShopChatSettings || {};
  }

  var S = readSettings();
  if (!S.rasaUrl || document.getElementById("shop-chat")) {
    return;
  }
  var apiBase = (S.apiBase || "/api/chat").replace(/\/$/, "");
  var title = S.title || "Shop assistant";

  // ------------------------------------------------------------------ helpers

  function load(key) {
    try {
      return window.localStorage.getItem(key);
    } catch (e) {
      return null;
    }
  }

  function save(key, value) {
    try {
      if (value === null) {
        window.localStorage.removeItem(key);
      } else {
        window.localStorage.setItem(key, value);
      }
    } catch (e) {
      /* storage disabled: the widget still works for this page view */
    }
  }

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

  function srOnly(text) {
    return el("span", "chat-sr", text);
  }

  function button(className, text, label) {
    var b = el("button", className, text);
    b.type = "button";
    if (label) {
      b.setAttribute("aria-label", label);
    }
    return b;
  }

  function safeUrl(raw) {
    try {
      var url = new URL(String(raw), window.location.href);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  // Text with http(s) links made clickable; everything else stays text.
  function richText(text) {
    var box = el("div", "chat-text");
    var value = String(text);
    var last = 0;
    value.replace(LINK, function (match, offset) {
      box.appendChild(document.createTextNode(value.slice(last, offset)));
      var href = safeUrl(match);
      if (href) {
        var a = el("a", null, match);
        a.href = href;
        a.target = "_blank";
        a.rel = "noopener noreferrer nofollow";
        box.appendChild(a);
      } else {
        box.appendChild(document.createTextNode(match));
      }
      last = offset + match.length;
      return match;
    });
    box.appendChild(document.createTextNode(value.slice(last)));
    return box;
  }

  function formatPrice(item) {
    if (typeof item.price === "string" && item.price) {
      return item.price;
    }
    var pence = typeof item.price_pence === "number" ? item.price_pence : item.price;
    if (typeof pence === "number" && isFinite(pence)) {
      pence = Math.round(pence);
      var rest = String(pence % 100);
      return "£" + Math.floor(pence / 100) + "." + (rest.length < 2 ? "0" + rest : rest);
    }
    return "";
  }

  function request(method, path, body) {
    var headers = { Accept: "application/json" };
    if (method !== "GET") {
      headers["Content-Type"] = "application/json";
      headers["X-CSRF-Token"] = csrf || "";
    }
    return fetch(apiBase + path, {
      method: method,
      credentials: "same-origin",
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(function (response) {
      if (!response.ok) {
        throw new Error(method + " " + path + " " + response.status);
      }
      return response.json();
    });
  }

  function addAsset(tag, attrs, onload) {
    var node = document.createElement(tag);
    Object.keys(attrs).forEach(function (key) {
      node[key] = attrs[key];
    });
    if (onload) {
      node.onload = onload;
    }
    document.head.appendChild(node);
  }

  // ------------------------------------------------------------------ DOM

  addAsset("link", { rel: "stylesheet", href: new URL("widget.css", scriptUrl).href });

  var root = el("div", "chat");
  root.id = "shop-chat";

  var launcher = button("chat-launcher", "Chat with us");
  launcher.setAttribute("aria-expanded", "false");
  launcher.setAttribute("aria-controls", "shop-chat-panel");

  var panel = el("section", "chat-panel");
  panel.id = "shop-chat-panel";
  panel.hidden = true;
  panel.setAttribute("aria-labelledby", "shop-chat-title");

  var header = el("header", "chat-header");
  var heading = el("h2", "chat-title", title);
  heading.id = "shop-chat-title";
  var status = el("span", "chat-status", "connecting…");
  status.setAttribute("role", "status");
  var endButton = button("chat-end", "End chat", "End this chat and rate it");
  var closeButton = button("chat-close", "–", "Minimise chat");
  var headingBox = el("div", "chat-heading");
  headingBox.appendChild(heading);
  headingBox.appendChild(status);
  header.appendChild(headingBox);
  header.appendChild(endButton);
  header.appendChild(closeButton);

  var banner = el("div", "chat-banner");
  banner.setAttribute("role", "status");
  banner.hidden = true;

  var log = el("div", "chat-log");
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "polite");
  log.setAttribute("aria-label", "Conversation");
  log.tabIndex = 0;

  var typing = el("div", "chat-typing");
  typing.hidden = true;
  typing.appendChild(srOnly("The assistant is typing"));
  for (var d = 0; d < 3; d += 1) {
    var dot = el("span", "chat-dot");
    dot.setAttribute("aria-hidden", "true");
    typing.appendChild(dot);
  }

  var rating = el("div", "chat-rating");
  rating.hidden = true;

  var form = el("form", "chat-form");
  var input = el("input", "chat-input");
  input.id = "shop-chat-input";
  input.type = "text";
  input.autocomplete = "off";
  input.maxLength = 1000;
  input.placeholder = "Type a message…";
  var inputLabel = el("label", "chat-sr", "Your message");
  inputLabel.htmlFor = input.id;
  var sendButton = el("button", "chat-send", "Send");
  sendButton.type = "submit";
  form.appendChild(inputLabel);
  form.appendChild(input);
  form.appendChild(sendButton);

  panel.appendChild(header);
  panel.appendChild(banner);
  panel.appendChild(log);
  panel.appendChild(typing);
  panel.appendChild(rating);
  panel.appendChild(form);
  root.appendChild(panel);
  root.appendChild(launcher);
  document.body.appendChild(root);

  // ------------------------------------------------------------------ state

  var sessionId = null;
  var csrf = null;
  var socket = null;
  var ready = false;
  var seq = 0; // bot emissions received so far (the server counts the same way)
  var buffering = false;
  var buffer = [];
  var handoff = "bot";
  var typingTimer = null;
  var identity = null;
  try {
    identity = JSON.parse(load(IDENTITY_KEY) || "null");
  } catch (e) {
    identity = null;
  }

  function setStatus(text) {
    status.textContent = text;
  }

  function setReady(value) {
    ready = value;
    input.disabled = !value;
    sendButton.disabled = !value;
    input.placeholder = value ? "Type a message…" : "Connecting…";
  }

  function scrollDown() {
    log.scrollTop = log.scrollHeight;
  }

  function showTyping() {
    typing.hidden = false;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, TYPING_TIMEOUT_MS);
    scrollDown();
  }

  function hideTyping() {
    typing.hidden = true;
    clearTimeout(typingTimer);
  }

  function setHandoff(state, agent) {
    handoff = state;
    if (state === "waiting") {
      banner.textContent =
        "Waiting for a person from our team. Anything you write goes straight to them.";
      banner.hidden = false;
      hideTyping();
    } else if (state === "agent") {
      banner.textContent =
        "You're chatting with " + (agent || "a person") + " from our team.";
      banner.hidden = false;
      hideTyping();
    } else {
      banner.hidden = true;
      banner.textContent = "";
    }
  }

  // ------------------------------------------------------------------ rendering

  var WHO_LABEL = { user: "You said:", bot: "Assistant:", notice: "Notice:" };

  function clearLog() {
    while (log.firstChild) {
      log.removeChild(log.firstChild);
    }
    log.appendChild(
      el(
        "p",
        "chat-intro",
        "Hi! Ask me about an order, a refund, delivery or gift ideas. " +
          "Say \u201Ca person\u201D at any time to reach our team."
      )
    );
  }

  function lastMessage() {
    var nodes = log.querySelectorAll(".chat-msg");
    return nodes.length ? nodes[nodes.length - 1] : null;
  }

  function retireQuickReplies() {
    var groups = log.querySelectorAll(".chat-replies");
    Array.prototype.forEach.call(groups, function (group) {
      group.remove();
    });
  }

  function rateButtons(messageSeq, pressed) {
    var box = el("div", "chat-rate");
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", "Rate this answer");
    var question = el("span", "chat-rate-label", "Helpful?");
    question.setAttribute("aria-hidden", "true");
    box.appendChild(question);
    [
      [1, "Yes", "Helpful"],
      [-1, "No", "Not helpful"],
    ].forEach(function (spec) {
      var b = button("chat-thumb", spec[1], spec[2]);
      b.setAttribute("aria-pressed", pressed === spec[0] ? "true" : "false");
      b.dataset.rating = String(spec[0]);
      b.addEventListener("click", function () {
        request("POST", "/feedback", { seq: messageSeq, rating: spec[0] })
          .then(function () {
            Array.prototype.forEach.call(box.querySelectorAll("button"), function (other) {
              other.setAttribute("aria-pressed", other === b ? "true" : "false");
            });
          })
          .catch(function () {
            addNotice("Sorry, that rating could not be saved.");
          });
      });
      box.appendChild(b);
    });
    return box;
  }

  function whoLabel(who, agent) {
    if (who === "agent") {
      return (agent || "A person") + " from our team:";
    }
    return WHO_LABEL[who] || "";
  }

  function addMessage(who, text, options) {
    options = options || {};
    var row = el("div", "chat-msg chat-" + who);
    row.appendChild(srOnly(whoLabel(who, options.agent)));
    if (who === "agent") {
      var name = el("span", "chat-from", (options.agent || "A person") + " · our team");
      name.setAttribute("aria-hidden", "true");
      row.appendChild(name);
    }
    row.appendChild(who === "user" ? el("div", "chat-text", text) : richText(text));
    if (who === "bot" && typeof options.seq === "number") {
      row.dataset.seq = String(options.seq);
      row.appendChild(rateButtons(options.seq, options.rated));
    }
    log.appendChild(row);
    if (Array.isArray(options.quickReplies) && options.quickReplies.length) {
      addQuickReplies(options.quickReplies);
    }
    scrollDown();
    return row;
  }

  function addNotice(text) {
    var row = el("div", "chat-msg chat-notice");
    row.appendChild(srOnly("Notice:"));
    row.appendChild(el("div", "chat-text", text));
    log.appendChild(row);
    scrollDown();
  }

  // Turn the newest bot bubble into a person's message or a notice, if it holds
  // ``text``; otherwise add a new one.
  function restyleLast(who, text, agent) {
    var last = lastMessage();
    var lastText = last ? last.querySelector(".chat-text") : null;
    if (last && lastText && lastText.textContent === text &&
        (last.classList.contains("chat-bot") || last.classList.contains("chat-" + who))) {
      if (last.classList.contains("chat-" + who)) {
        return;
      }
      var row = addMessage(who, text, { agent: agent });
      last.replaceWith(row);
      return;
    }
    if (who === "notice") {
      addNotice(text);
    } else {
      addMessage(who, text, { agent: agent });
    }
  }

  function addQuickReplies(replies) {
    var box = el("div", "chat-replies");
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", "Suggested replies");
    replies.forEach(function (reply) {
      if (!reply || (reply.title === undefined && reply.payload === undefined)) {
        return;
      }
      var label = String(reply.title !== undefined ? reply.title : reply.payload);
      var payload = String(reply.payload !== undefined ? reply.payload : label);
      var b = button("chat-reply", label);
      b.addEventListener("click", function () {
        sendMessage(payload, label);
      });
      box.appendChild(b);
    });
    log.appendChild(box);
  }

  function productLink(item) {
    if (!S.productUrl || !item.stock_code) {
      return null;
    }
    return safeUrl(
      String(S.productUrl).replace("{stock_code}", encodeURIComponent(item.stock_code))
    );
  }

  function addProducts(items, messageSeq, rated) {
    var wrap = el("div", "chat-msg chat-bot chat-carousel");
    wrap.setAttribute("role", "region");
    wrap.setAttribute("aria-label", "Suggested products");
    wrap.appendChild(srOnly("Assistant: suggested products"));
    var list = el("ul", "chat-cards");
    items.slice(0, 10).forEach(function (item) {
      if (!item || typeof item !== "object" || !item.name) {
        return;
      }
      var card = el("li", "chat-card");
      var image = el("div", "chat-card-image", String(item.name).charAt(0));
      image.setAttribute("aria-hidden", "true");
      card.appendChild(image);
      var href = productLink(item);
      var name;
      if (href) {
        name = el("a", "chat-card-name", item.name);
        name.href = href;
      } else {
        name = el("span", "chat-card-name", item.name);
      }
      card.appendChild(name);
      card.appendChild(el("span", "chat-card-price", formatPrice(item)));
      if (item.reason) {
        card.appendChild(el("span", "chat-card-reason", item.reason));
      }
      var more = button("chat-card-more", "More like this", "More like " + item.name);
      more.addEventListener("click", function () {
        // An intent payload: the bot searches for this product, whatever its name.
        var payload = "/product_recommendation" + JSON.stringify({ product: String(item.name) });
        sendMessage(payload, "More like " + item.name);
      });
      card.appendChild(more);
      list.appendChild(card);
    });
    var prev = button("chat-scroll chat-prev", "‹", "Previous products");
    var next = button("chat-scroll chat-next", "›", "Next products");
    prev.addEventListener("click", function () {
      list.scrollBy({ left: -list.clientWidth * 0.8, behavior: "smooth" });
    });
    next.addEventListener("click", function () {
      list.scrollBy({ left: list.clientWidth * 0.8, behavior: "smooth" });
    });
    wrap.appendChild(prev);
    wrap.appendChild(list);
    wrap.appendChild(next);
    if (typeof messageSeq === "number") {
      wrap.dataset.seq = String(messageSeq);
      wrap.appendChild(rateButtons(messageSeq, rated));
    }
    log.appendChild(wrap);
    scrollDown();
  }

  function addImage(src) {
    var href = safeUrl(src);
    if (!href) {
      return;
    }
    var img = el("img", "chat-image");
    img.alt = "Image from the assistant";
    img.src = href;
    log.appendChild(img);
    scrollDown();
  }

  // One socket.io message from the bot (or a person, through Rasa).
  function handleEmission(payload) {
    var messageSeq = seq;
    seq += 1;
    hideTyping();
    if (panel.hidden) {
      launcher.classList.add("chat-unread");
      launcher.textContent = "New message: open the chat";
    }
    if (!payload || typeof payload !== "object") {
      return;
    }
    if (typeof payload.text === "string" && payload.text && !payload.type) {
      retireQuickReplies();
      addMessage("bot", payload.text, {
        seq: messageSeq,
        quickReplies: payload.quick_replies,
      });
    } else if (payload.type === "products" && Array.isArray(payload.items)) {
      addProducts(payload.items, messageSeq);
    } else if (payload.type === "agent_message") {
      restyleLast("agent", String(payload.text || ""), payload.agent);
      setHandoff("agent", payload.agent);
    } else if (payload.type === "handoff") {
      if (payload.text) {
        restyleLast("notice", String(payload.text));
      }
      var states = { joined: "agent", ended: "bot" };
      setHandoff(states[payload.state] || "waiting", payload.agent);
    } else if (payload.attachment && payload.attachment.type === "image") {
      addImage((payload.attachment.payload || {}).src);
    }
  }

  function signature(payload) {
    if (!payload || typeof payload !== "object") {
      return "|";
    }
    var text = typeof payload.text === "string" ? payload.text : "";
    var type = typeof payload.type === "string" ? payload.type : "";
    return text + "|" + type;
  }

  // How many of the first live messages the history already ends with.
  function overlap(live, tail) {
    var best = 0;
    for (var k = 1; k <= Math.min(live.length, tail.length); k += 1) {
      var same = true;
      for (var i = 0; i < k; i += 1) {
        if (signature(live[i]) !== tail[tail.length - k + i]) {
          same = false;
          break;
        }
      }
      if (same) {
        best = k;
      }
    }
    return best;
  }

  function renderHistory(history) {
    log.setAttribute("aria-busy", "true"); // not read out again message by message
    clearLog();
    var feedback = history.feedback || {};
    var entries = Array.isArray(history.entries) ? history.entries : [];
    entries.forEach(function (entry, index) {
      var rated = entry.seq !== undefined ? feedback[String(entry.seq)] : undefined;
      var isLast = index === entries.length - 1;
      if (entry.kind === "products") {
        addProducts(entry.items || [], entry.who === "bot" ? entry.seq : undefined, rated);
      } else if (entry.kind === "image") {
        addImage(entry.image);
      } else if (entry.who === "notice") {
        addNotice(entry.text);
      } else {
        addMessage(entry.who, entry.text, {
          seq: entry.who === "bot" ? entry.seq : undefined,
          rated: rated,
          agent: entry.agent,
          quickReplies: isLast ? entry.quick_replies : undefined,
        });
      }
    });
    seq = typeof history.emissions === "number" ? history.emissions : 0;
    setHandoff(history.handoff || "bot", history.agent);
    log.setAttribute("aria-busy", "false");
    scrollDown();
  }

  function loadHistory() {
    buffering = true;
    buffer = [];
    return request("GET", "/history")
      .then(function (history) {
        renderHistory(history);
        var live = buffer;
        buffering = false;
        buffer = [];
        live.slice(overlap(live, history.tail || [])).forEach(handleEmission);
      })
      .catch(function () {
        var live = buffer;
        buffering = false;
        buffer = [];
        addNotice("Earlier messages could not be loaded.");
        live.forEach(handleEmission);
      });
  }

  // ------------------------------------------------------------------ socket

  function onConfirm() {
    if (load(ACTIVE_KEY) === sessionId) {
      loadHistory().then(function () {
        setReady(true);
      });
    } else {
      setReady(true);
    }
  }

  function connect() {
    socket = window.io(S.rasaUrl, { autoConnect: false });
    socket.on("connect", function () {
      setStatus("online");
      setReady(false);
      socket.emit("session_request", { session_id: sessionId });
    });
    socket.on("session_confirm", function (data) {
      var confirmed = data && typeof data === "object" ? data.session_id : data;
      if (String(confirmed) === sessionId) {
        onConfirm();
      }
    });
    socket.on("disconnect", function () {
      setStatus("reconnecting…");
      setReady(false);
    });
    socket.on("connect_error", function () {
      setStatus("offline, retrying…");
      setReady(false);
    });
    socket.on("bot_uttered", function (payload) {
      if (buffering) {
        buffer.push(payload);
      } else {
        handleEmission(payload);
      }
    });
    socket.connect();
  }

  function ensureSocket() {
    if (socket) {
      if (!socket.connected) {
        socket.connect();
      }
      return;
    }
    if (typeof window.io === "function") {
      connect();
      return;
    }
    addAsset(
      "script",
      { src: new URL("vendor/socket.io.min.js", scriptUrl).href, async: true },
      connect
    );
  }

  function sendMessage(payload, shown) {
    var text = String(payload).trim();
    if (!text) {
      return;
    }
    if (!ready) {
      addNotice("Still connecting, please try again in a moment.");
      return;
    }
    retireQuickReplies();
    addMessage("user", shown !== undefined ? shown : text);
    save(ACTIVE_KEY, sessionId);
    var metadata = {};
    if (identity && identity.customer_id) {
      metadata.customer_id = identity.customer_id;
      metadata.customer_sig = identity.customer_sig;
    }
    if (shown !== undefined && shown !== text) {
      metadata.display_text = String(shown).slice(0, 200);
    }
    socket.emit("user_uttered", {
      message: text,
      session_id: sessionId,
      metadata: metadata,
    });
    if (handoff === "bot") {
      showTyping();
    }
  }

  // A fresh conversation: a new id from the server, an empty log, a new socket.
  function restart() {
    return request("POST", "/session", {}).then(function (data) {
      sessionId = String(data.session_id);
      save(ACTIVE_KEY, null);
      seq = 0;
      clearLog();
      setHandoff("bot");
      hideRating();
      if (socket) {
        socket.disconnect();
        socket.connect();
      }
    });
  }

  // ------------------------------------------------------------------ panel

  function open() {
    panel.hidden = false;
    launcher.hidden = true;
    launcher.classList.remove("chat-unread");
    launcher.textContent = "Chat with us";
    launcher.setAttribute("aria-expanded", "true");
    save(OPEN_KEY, "1");
    ensureSocket();
    input.focus();
  }

  function minimise() {
    panel.hidden = true;
    launcher.hidden = false;
    launcher.setAttribute("aria-expanded", "false");
    save(OPEN_KEY, null);
    launcher.focus();
  }

  function hideRating() {
    rating.hidden = true;
    while (rating.firstChild) {
      rating.removeChild(rating.firstChild);
    }
    form.hidden = false;
  }

  function showRating() {
    hideRating();
    form.hidden = true;
    var question = el("p", "chat-rating-question", "How did we do?");
    question.id = "shop-chat-rating-q";
    rating.appendChild(question);
    var stars = el("div", "chat-stars");
    stars.setAttribute("role", "group");
    stars.setAttribute("aria-labelledby", question.id);
    [1, 2, 3, 4, 5].forEach(function (n) {
      var b = button("chat-star", "★", n + (n === 1 ? " star" : " stars"));
      b.addEventListener("click", function () {
        request("POST", "/rating", { rating: n })
          .then(function () {
            question.textContent = "Thank you for your rating!";
            stars.remove();
          })
          .catch(function () {
            question.textContent = "Sorry, the rating could not be saved.";
          });
      });
      stars.appendChild(b);
    });
    rating.appendChild(stars);
    var again = button("chat-new", "Start a new chat");
    again.addEventListener("click", function () {
      restart().then(function () {
        input.focus();
      });
    });
    var back = button("chat-back", "Back to the chat");
    back.addEventListener("click", function () {
      hideRating();
      input.focus();
    });
    rating.appendChild(again);
    rating.appendChild(back);
    rating.hidden = false;
    stars.firstChild.focus();
  }

  launcher.addEventListener("click", open);
  closeButton.addEventListener("click", minimise);
  endButton.addEventListener("click", showRating);
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      minimise();
    }
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value;
    input.value = "";
    sendMessage(text);
  });

  // ------------------------------------------------------------------ identity (demo)

  var select = S.identitySelect ? document.getElementById(S.identitySelect) : null;

  function setIdentity(customerId) {
    if (!customerId) {
      identity = null;
      save(IDENTITY_KEY, null);
      return restart();
    }
    var url =
      (S.identityUrl || "/api/identity") +
      "?customer_id=" +
      encodeURIComponent(customerId);
    return fetch(url, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("identity " + response.status);
        }
        return response.json();
      })
      .then(function (metadata) {
        identity = {
          customer_id: metadata.customer_id,
          customer_sig: metadata.customer_sig,
        };
        save(IDENTITY_KEY, JSON.stringify(identity));
        return restart();
      })
      .catch(function () {
        addNotice("Could not sign in as that customer.");
      });
  }

  if (select) {
    if (identity && identity.customer_id) {
      select.value = String(identity.customer_id);
      if (select.value !== String(identity.customer_id)) {
        identity = null;
        save(IDENTITY_KEY, null);
        select.value = "";
      }
    }
    select.addEventListener("change", function () {
      setIdentity(select.value);
    });
  }

  // ------------------------------------------------------------------ start

  clearLog();
  setReady(false);
  request("GET", "/session")
    .then(function (data) {
      sessionId = String(data.session_id);
      csrf = data.csrf_token;
      if (load(OPEN_KEY) === "1") {
        open();
      } else if (load(ACTIVE_KEY) === sessionId) {
        ensureSocket(); // a conversation is under way: keep receiving its messages
      }
    })
    .catch(function () {
      setStatus("unavailable");
      launcher.disabled = true;
      launcher.textContent = "Chat unavailable";
    });
})();
