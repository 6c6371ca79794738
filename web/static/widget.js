/*
 * The shop's chat widget: talks to Rasa's socket.io channel.
 *
 * Protocol (Rasa 3.6, credentials: user_uttered / bot_uttered, session_persistence):
 *   emit "session_request" {session_id}    -> receive "session_confirm" <session id>
 *   emit "user_uttered" {message, session_id, metadata: {customer_id, customer_sig}}
 *   receive "bot_uttered" {text, quick_replies | buttons, attachment, custom}
 *
 * Messages are rendered with textContent only: nothing a message contains is ever
 * parsed as HTML. The session id is kept in localStorage so that a reload continues
 * the same conversation.
 *
 * TODO(#3): the full widget: product carousel, history on reload, thumbs up/down,
 * typing indicator, hand-off notices.
 */
(function () {
  "use strict";

  var SESSION_KEY = "shop-chat-session";
  var IDENTITY_KEY = "shop-chat-identity";

  var root = document.getElementById("shop-chat");
  if (!root || typeof io !== "function") {
    return;
  }
  var rasaUrl = root.getAttribute("data-rasa-url") || "http://127.0.0.1:5005";
  var identityUrl = root.getAttribute("data-identity-url") || "/api/identity";
  var select = document.getElementById(root.getAttribute("data-identity-select") || "");

  // ------------------------------------------------------------------ storage

  function load(key) {
    try {
      return window.localStorage.getItem(key);
    } catch (e) {
      return null; // storage disabled: the conversation lasts one page view
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
      /* storage disabled */
    }
  }

  var sessionId = load(SESSION_KEY);
  var identity = null; // {customer_id, customer_sig} or null for a guest
  try {
    identity = JSON.parse(load(IDENTITY_KEY) || "null");
  } catch (e) {
    identity = null;
  }

  // ------------------------------------------------------------------ DOM

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

  var launcher = el("button", "chat-launcher", "Chat with us");
  launcher.type = "button";
  launcher.setAttribute("aria-expanded", "false");

  var panel = el("section", "chat-panel");
  panel.hidden = true;
  panel.setAttribute("aria-label", "Chat with the shop assistant");

  var header = el("header", "chat-header");
  header.appendChild(el("span", "chat-title", "Shop assistant"));
  var status = el("span", "chat-status", "connecting…");
  header.appendChild(status);
  var close = el("button", "chat-close", "×");
  close.type = "button";
  close.setAttribute("aria-label", "Close chat");
  header.appendChild(close);

  var log = el("div", "chat-log");
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "polite");

  var form = el("form", "chat-form");
  var input = el("input", "chat-input");
  input.type = "text";
  input.autocomplete = "off";
  input.maxLength = 1000;
  input.placeholder = "Type a message…";
  input.setAttribute("aria-label", "Your message");
  var send = el("button", "chat-send", "Send");
  send.type = "submit";
  form.appendChild(input);
  form.appendChild(send);

  panel.appendChild(header);
  panel.appendChild(log);
  panel.appendChild(form);
  root.appendChild(panel);
  root.appendChild(launcher);

  function scrollDown() {
    log.scrollTop = log.scrollHeight;
  }

  function addBubble(who, text) {
    var bubble = el("div", "chat-msg chat-" + who, text);
    log.appendChild(bubble);
    scrollDown();
    return bubble;
  }

  function formatPrice(price) {
    // Money in this project is integer pence; a string is shown as it is.
    if (typeof price === "number" && isFinite(price)) {
      var pence = Math.round(price);
      var pounds = Math.floor(pence / 100);
      var rest = String(pence % 100);
      return "£" + pounds + "." + (rest.length < 2 ? "0" + rest : rest);
    }
    return price === undefined || price === null ? "" : String(price);
  }

  function addProducts(items) {
    var list = el("ul", "chat-products");
    items.slice(0, 10).forEach(function (item) {
      if (!item || typeof item !== "object") {
        return;
      }
      var card = el("li", "chat-product");
      card.appendChild(el("span", "chat-product-name", item.name));
      card.appendChild(el("span", "chat-product-price", formatPrice(item.price)));
      if (item.reason) {
        card.appendChild(el("span", "chat-product-reason", item.reason));
      }
      if (item.stock_code) {
        card.appendChild(el("span", "chat-product-code", "Item " + item.stock_code));
      }
      list.appendChild(card);
    });
    log.appendChild(list);
    scrollDown();
  }

  function addImage(src) {
    // Only web images; never javascript: or other schemes.
    if (typeof src !== "string" || !/^https?:\/\//i.test(src)) {
      return;
    }
    var img = el("img", "chat-image");
    img.alt = "";
    img.src = src;
    log.appendChild(img);
    scrollDown();
  }

  function addQuickReplies(buttons) {
    var box = el("div", "chat-replies");
    buttons.forEach(function (button) {
      if (!button || (button.title === undefined && button.payload === undefined)) {
        return;
      }
      var title = button.title !== undefined ? button.title : button.payload;
      var reply = el("button", "chat-reply", title);
      reply.type = "button";
      reply.addEventListener("click", function () {
        box.remove();
        sendMessage(String(button.payload !== undefined ? button.payload : title), String(title));
      });
      box.appendChild(reply);
    });
    log.appendChild(box);
    scrollDown();
  }

  // ------------------------------------------------------------------ messages

  function customPayload(message) {
    // An action's json_message reaches socket.io clients either wrapped in
    // "custom" or, when sent as {"data": {...}}, as the payload itself.
    if (message.custom && typeof message.custom === "object") {
      return message.custom;
    }
    return message.type ? message : null;
  }

  function renderBotMessage(message) {
    if (!message || typeof message !== "object") {
      return;
    }
    if (typeof message.text === "string" && message.text) {
      addBubble("bot", message.text);
    }
    var buttons = message.quick_replies || message.buttons;
    if (Array.isArray(buttons) && buttons.length) {
      addQuickReplies(buttons);
    }
    var custom = customPayload(message);
    if (custom && custom.type === "products" && Array.isArray(custom.items)) {
      addProducts(custom.items);
    }
    var attachment = message.attachment;
    if (attachment && attachment.type === "image" && attachment.payload) {
      addImage(attachment.payload.src);
    }
  }

  // ------------------------------------------------------------------ socket

  var socket = io(rasaUrl, { autoConnect: false });
  var confirmed = false;

  function requestSession() {
    confirmed = false;
    socket.emit("session_request", { session_id: sessionId });
  }

  socket.on("connect", function () {
    status.textContent = "online";
    requestSession();
  });

  socket.on("disconnect", function () {
    status.textContent = "reconnecting…";
  });

  socket.on("connect_error", function () {
    status.textContent = "offline";
  });

  socket.on("session_confirm", function (data) {
    var confirmedId = data && typeof data === "object" ? data.session_id : data;
    if (confirmedId) {
      sessionId = String(confirmedId);
      save(SESSION_KEY, sessionId);
      confirmed = true;
    }
  });

  socket.on("bot_uttered", renderBotMessage);

  function sendMessage(payload, shown) {
    var text = String(payload).trim();
    if (!text) {
      return;
    }
    if (!sessionId || !confirmed) {
      addBubble("notice", "Still connecting, please try again in a moment.");
      return;
    }
    addBubble("user", shown !== undefined ? shown : text);
    socket.emit("user_uttered", {
      message: text,
      session_id: sessionId,
      metadata: identity || {},
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value;
    input.value = "";
    sendMessage(text);
  });

  function open() {
    panel.hidden = false;
    launcher.hidden = true;
    launcher.setAttribute("aria-expanded", "true");
    if (!socket.connected) {
      socket.connect();
    }
    input.focus();
  }

  launcher.addEventListener("click", open);
  close.addEventListener("click", function () {
    panel.hidden = true;
    launcher.hidden = false;
    launcher.setAttribute("aria-expanded", "false");
  });

  // ------------------------------------------------------------------ identity

  function startNewConversation() {
    sessionId = null;
    save(SESSION_KEY, null);
    while (log.firstChild) {
      log.removeChild(log.firstChild);
    }
    if (socket.connected) {
      requestSession();
    }
  }

  function setIdentity(customerId) {
    if (!customerId) {
      identity = null;
      save(IDENTITY_KEY, null);
      startNewConversation();
      return Promise.resolve();
    }
    var url = identityUrl + "?customer_id=" + encodeURIComponent(customerId);
    return fetch(url, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("identity " + response.status);
        }
        return response.json();
      })
      .then(function (metadata) {
        identity = { customer_id: metadata.customer_id, customer_sig: metadata.customer_sig };
        save(IDENTITY_KEY, JSON.stringify(identity));
        startNewConversation();
      })
      .catch(function () {
        addBubble("notice", "Could not sign in as that customer.");
      });
  }

  if (select) {
    if (identity && identity.customer_id) {
      select.value = String(identity.customer_id);
      if (select.value !== String(identity.customer_id)) {
        identity = null; // no longer offered
        save(IDENTITY_KEY, null);
        select.value = "";
      }
    }
    select.addEventListener("change", function () {
      setIdentity(select.value);
    });
  }

  if (sessionId) {
    // A conversation is under way: reconnect at once so replies are not missed.
    open();
  }
})();
