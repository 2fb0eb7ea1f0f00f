/* Lainet web chat widget. Embed with one tag (docs/webchat.md):
 *   <script src="https://HOST/webchat/widget.js" data-lang="et" async></script>
 * Plain JavaScript, no build step. Everything lives in a Shadow DOM, so the host page's CSS cannot reach
 * it; every text is rendered with textContent. */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || document.getElementById("supportbot-webchat")) return;

  var BASE = new URL(".", script.src);                       // http://HOST/webchat/
  var SOCKET_URL = new URL("socket", BASE);
  SOCKET_URL.protocol = SOCKET_URL.protocol === "https:" ? "wss:" : "ws:";
  var STORAGE = "supportbot.webchat." + BASE.host + ".";
  var MAX_CHARS = 4000;
  var TYPING_SEND_EVERY_MS = 2000;
  var AGENT_TYPING_MS = 6000;
  var BOT_TYPING_MAX_MS = 60000;

  // ------------------------------------------------------------------ texts

  var TEXTS = {
    en: {
      title: "Lainet support", open: "Open chat", openUnread: "Open chat, {n} new messages", close: "Close chat",
      minimize: "Minimize chat",
      log: "Conversation", inputLabel: "Your message", placeholder: "Write a message…", send: "Send",
      botStatus: "{bot} · virtual assistant", queueNext: "You are next in the queue",
      queueN: "You are number {n} in the queue", queueUnknown: "Waiting for an agent…",
      agentStatus: "{agent} from customer support", closedStatus: "The conversation has ended · write to continue",
      typing: "{name} is typing…", helpful: "Was this helpful?", yes: "Yes, this helped", no: "No, this did not help",
      connecting: "Connecting…", reconnecting: "Connection lost. Reconnecting…",
      offline: "You are offline. Messages will be sent when the connection is back.",
      failed: "Not delivered.", retry: "Retry", you: "You", sending: "Sending…",
      welcome: "Hi! I'm {bot}, Lainet's virtual assistant. Ask me anything about your bill, internet, TV or mobile service — or ask for a person at any time.",
      starters: ["How can I pay my bill?", "My internet is not working", "I want to talk to a person"],
      footer: "Virtual assistant · a person can take over at any time",
      error: "Something went wrong. Please try again.", busy: "One moment please, I am still answering.",
      unavailable: "The assistant is not available right now. Your message is saved and we will get back to you.",
      tooLong: "The message is too long (at most {n} characters).", link: "opens in a new tab",
      endChat: "End chat", endConfirm: "End this chat? It is removed from this browser, and your next message starts a new conversation.",
      endYes: "End chat", endNo: "Cancel",
      tooManyMessages: "You have sent a great many messages. Please wait a while before writing again.",
      tooManyConversations: "Too many new conversations from this network. Please try again later.",
    },
    et: {
      title: "Laineti klienditugi", open: "Ava vestlus", openUnread: "Ava vestlus, {n} uut sõnumit", close: "Sulge vestlus",
      minimize: "Peida vestlus",
      log: "Vestlus", inputLabel: "Teie sõnum", placeholder: "Kirjutage sõnum…", send: "Saada",
      botStatus: "{bot} · virtuaalassistent", queueNext: "Olete järjekorras järgmine",
      queueN: "Olete järjekorras {n}.", queueUnknown: "Ootame klienditeenindajat…",
      agentStatus: "{agent} klienditoest", closedStatus: "Vestlus on lõppenud · kirjutage, et jätkata",
      typing: "{name} kirjutab…", helpful: "Kas sellest oli abi?", yes: "Jah, see aitas", no: "Ei, see ei aidanud",
      connecting: "Ühendan…", reconnecting: "Ühendus katkes. Ühendan uuesti…",
      offline: "Ühendus puudub. Sõnumid saadetakse, kui ühendus taastub.",
      failed: "Ei jõudnud kohale.", retry: "Proovi uuesti", you: "Teie", sending: "Saadan…",
      welcome: "Tere! Mina olen {bot}, Laineti virtuaalassistent. Küsige julgelt arvete, interneti, teleteenuse või mobiiliside kohta — või paluge igal ajal inimest.",
      starters: ["Kuidas arvet maksta?", "Internet ei tööta", "Soovin rääkida inimesega"],
      footer: "Virtuaalassistent · inimene saab igal ajal vestlust jätkata",
      error: "Midagi läks valesti. Palun proovige uuesti.", busy: "Üks hetk palun, vastan veel.",
      unavailable: "Assistent pole praegu kättesaadav. Teie sõnum on salvestatud ja vastame teile.",
      tooLong: "Sõnum on liiga pikk (kuni {n} märki).", link: "avaneb uues aknas",
      endChat: "Lõpeta vestlus", endConfirm: "Kas soovite vestluse lõpetada? See kustutatakse sellest brauserist ja teie järgmine sõnum alustab uut vestlust.",
      endYes: "Lõpeta vestlus", endNo: "Tühista",
      tooManyMessages: "Olete saatnud väga palju sõnumeid. Palun oodake veidi, enne kui uuesti kirjutate.",
      tooManyConversations: "Sellest võrgust on alustatud liiga palju uusi vestlusi. Palun proovige hiljem uuesti.",
    },
    ru: {
      title: "Поддержка Lainet", open: "Открыть чат", openUnread: "Открыть чат, новых сообщений: {n}", close: "Закрыть чат",
      minimize: "Свернуть чат",
      log: "Переписка", inputLabel: "Ваше сообщение", placeholder: "Напишите сообщение…", send: "Отправить",
      botStatus: "{bot} · виртуальный помощник", queueNext: "Вы следующий в очереди",
      queueN: "Вы {n}-й в очереди", queueUnknown: "Ждём специалиста…",
      agentStatus: "{agent}, служба поддержки", closedStatus: "Разговор завершён · напишите, чтобы продолжить",
      typing: "{name} печатает…", helpful: "Это помогло?", yes: "Да, помогло", no: "Нет, не помогло",
      connecting: "Подключение…", reconnecting: "Соединение потеряно. Переподключаемся…",
      offline: "Нет соединения. Сообщения отправятся, когда связь восстановится.",
      failed: "Не доставлено.", retry: "Повторить", you: "Вы", sending: "Отправка…",
      welcome: "Здравствуйте! Я {bot}, виртуальный помощник Lainet. Спросите меня о счёте, интернете, ТВ или мобильной связи — или позовите человека в любой момент.",
      starters: ["Как оплатить счёт?", "Не работает интернет", "Хочу поговорить с человеком"],
      footer: "Виртуальный помощник · специалист может подключиться в любой момент",
      error: "Что-то пошло не так. Попробуйте ещё раз.", busy: "Минуточку, я ещё отвечаю.",
      unavailable: "Помощник сейчас недоступен. Ваше сообщение сохранено, мы ответим.",
      tooLong: "Сообщение слишком длинное (не более {n} символов).", link: "откроется в новой вкладке",
      endChat: "Завершить чат", endConfirm: "Завершить чат? Переписка будет удалена из этого браузера, а следующее сообщение начнёт новый разговор.",
      endYes: "Завершить чат", endNo: "Отмена",
      tooManyMessages: "Вы отправили очень много сообщений. Пожалуйста, подождите немного, прежде чем писать снова.",
      tooManyConversations: "Из этой сети начато слишком много новых разговоров. Пожалуйста, попробуйте позже.",
    },
  };

  function pickLanguage() {
    var wanted = [script.getAttribute("data-lang")].concat(navigator.languages || [navigator.language]);
    for (var i = 0; i < wanted.length; i++) {
      var code = String(wanted[i] || "").toLowerCase().slice(0, 2);
      if (TEXTS[code]) return code;
    }
    return "en";
  }

  var LANG = pickLanguage();
  var T = TEXTS[LANG];
  function t(key, fields) {
    return String(T[key]).replace(/\{(\w+)\}/g, function (_, name) {
      return fields && fields[name] != null ? String(fields[name]) : "";
    });
  }

  // ------------------------------------------------------------------ storage

  var memory = {};
  function load(key) {
    try { return window.localStorage.getItem(STORAGE + key); } catch (e) { return memory[key] || null; }
  }
  function save(key, value) {
    try { window.localStorage.setItem(STORAGE + key, value); } catch (e) { memory[key] = value; }
  }
  function forgetStored() {
    // every key of this widget, in both storages, whatever the session it belonged to
    ["localStorage", "sessionStorage"].forEach(function (name) {
      try {
        var storage = window[name];
        for (var i = storage.length - 1; i >= 0; i--) {
          var key = storage.key(i);
          if (key && key.indexOf(STORAGE) === 0) storage.removeItem(key);
        }
      } catch (e) { /* storage blocked: the memory below is all there is */ }
    });
    memory = {};
  }

  function newSessionId() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      try { return window.crypto.randomUUID(); } catch (e) { /* insecure context: below */ }
    }
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }

  var SESSION_PATTERN = /^[A-Za-z0-9_-]{8,100}$/;
  var session = load("session");
  var returning = !!session && SESSION_PATTERN.test(session);
  if (!returning) {
    session = newSessionId();
    save("session", session);
  }

  function feedbackGiven() {
    try { return JSON.parse(load("feedback." + session) || "{}") || {}; } catch (e) { return {}; }
  }

  // ------------------------------------------------------------------ DOM

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) return;
      if (name === "text") node.textContent = value;
      else if (name === "className") node.className = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  var SVG_NS = "http://www.w3.org/2000/svg";
  function icon(paths, size) {
    var svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", String(size || 24));
    svg.setAttribute("height", String(size || 24));
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    paths.forEach(function (d) {
      var path = document.createElementNS(SVG_NS, "path");
      path.setAttribute("d", d);
      svg.appendChild(path);
    });
    return svg;
  }
  var ICON_CHAT = ["M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"];
  var ICON_CLOSE = ["M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4-5.6-5.6L6.4 19 5 17.6l5.6-5.6L5 6.4z"];
  var ICON_END = ["M16 17v-3H9v-4h7V7l5 5-5 5zM14 2a2 2 0 0 1 2 2v2h-2V4H5v16h9v-2h2v2a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2h9z"];
  var ICON_SEND = ["M3.4 20.4 21 12 3.4 3.6 3.4 10l12.6 2-12.6 2z"];
  var ICON_DOWN = ["M7.4 8.6 12 13.2l4.6-4.6L18 10l-6 6-6-6z"];
  var ICON_THUMB_UP = ["M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06L14.17 1 7.59 7.59C7.22 7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z"];
  var ICON_THUMB_DOWN = ["M15 3H6c-.83 0-1.54.5-1.84 1.22l-3.02 7.05c-.09.23-.14.47-.14.73v2c0 1.1.9 2 2 2h6.31l-.95 4.57-.03.32c0 .41.17.79.44 1.06L9.83 23l6.59-6.59c.36-.36.58-.86.58-1.41V5c0-1.1-.9-2-2-2zm4 0v12h4V3h-4z"];

  var host = el("div", { id: "supportbot-webchat" });
  host.style.display = "none"; // until the stylesheet is in, so nothing flashes unstyled
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  var stylesheet = el("link", { rel: "stylesheet", href: new URL("widget.css", BASE).href });
  var shown = false;
  function showHost() { if (!shown) { shown = true; host.style.display = ""; } }
  stylesheet.addEventListener("load", showHost);
  stylesheet.addEventListener("error", showHost);
  setTimeout(showHost, 3000);

  var position = script.getAttribute("data-position") === "left" ? "left" : "right";
  var title = script.getAttribute("data-title") || t("title");
  var botName = "Laine";

  var unreadBadge = el("span", { className: "sbw-badge", "aria-hidden": "true", hidden: true });
  var bubble = el("button", {
    type: "button", className: "sbw-launcher", "aria-expanded": "false", "aria-controls": "sbw-panel",
    "aria-label": t("open"), "data-testid": "webchat-bubble",
  }, [icon(ICON_CHAT, 28), icon(ICON_DOWN, 30), unreadBadge]);

  var avatar = el("div", { className: "sbw-avatar", "aria-hidden": "true", text: "L" });
  var statusDot = el("span", { className: "sbw-dot", "aria-hidden": "true" });
  var statusText = el("span", { "data-testid": "webchat-status" });
  var statusLine = el("p", { className: "sbw-status", role: "status" }, [statusDot, statusText]);
  var closeButton = el("button", {
    type: "button", className: "sbw-icon-button sbw-close", "aria-label": t("close"), "data-testid": "webchat-close",
  }, [icon(ICON_CLOSE, 20)]);
  var endButton = el("button", {
    type: "button", className: "sbw-icon-button sbw-end", "aria-label": t("endChat"), title: t("endChat"),
    "aria-haspopup": "dialog", "aria-controls": "sbw-end-confirm", "data-testid": "webchat-end",
  }, [icon(ICON_END, 20)]);
  var header = el("header", { className: "sbw-header" }, [
    avatar,
    el("div", { className: "sbw-heading" }, [el("h2", { id: "sbw-title", className: "sbw-title", text: title }), statusLine]),
    endButton,
    closeButton,
  ]);
  var endYes = el("button", { type: "button", className: "sbw-confirm-yes", "data-testid": "webchat-end-yes", text: t("endYes") });
  var endNo = el("button", { type: "button", className: "sbw-confirm-no", "data-testid": "webchat-end-no", text: t("endNo") });
  var endConfirm = el("div", {
    id: "sbw-end-confirm", className: "sbw-confirm", role: "alertdialog", "aria-labelledby": "sbw-end-question",
    "data-testid": "webchat-end-confirm", hidden: true,
  }, [el("p", { id: "sbw-end-question", className: "sbw-confirm-text", text: t("endConfirm") }),
      el("div", { className: "sbw-confirm-actions" }, [endYes, endNo])]);

  var connection = el("div", { className: "sbw-connection", role: "status", "data-testid": "webchat-connection", hidden: true });
  var notice = el("div", { className: "sbw-notice", role: "alert", "data-testid": "webchat-notice", hidden: true });
  var log = el("div", {
    className: "sbw-log", role: "log", "aria-live": "polite", "aria-relevant": "additions", "aria-label": t("log"),
    tabindex: "0", "data-testid": "webchat-messages",
  });
  var typingText = el("span", { className: "sbw-typing-text" });
  var typing = el("div", { className: "sbw-typing", role: "status", "data-testid": "webchat-typing", hidden: true }, [
    el("span", { className: "sbw-typing-dots", "aria-hidden": "true" }, [el("i"), el("i"), el("i")]), typingText,
  ]);
  var input = el("textarea", {
    id: "sbw-input", className: "sbw-input", rows: "1", placeholder: t("placeholder"),
    autocomplete: "off", "data-testid": "webchat-input", enterkeyhint: "send",
  });
  var sendButton = el("button", {
    type: "submit", className: "sbw-send", "aria-label": t("send"), "data-testid": "webchat-send",
  }, [icon(ICON_SEND, 22)]);
  var form = el("form", { className: "sbw-composer", novalidate: true }, [
    el("label", { className: "sbw-sr-only", for: "sbw-input", text: t("inputLabel") }), input, sendButton,
  ]);
  var panel = el("section", {
    id: "sbw-panel", className: "sbw-panel", role: "dialog", "aria-labelledby": "sbw-title", hidden: true,
    "data-testid": "webchat-panel",
  }, [header, endConfirm, connection, notice, log, typing, form, el("p", { className: "sbw-footer", text: t("footer") })]);
  var frame = el("div", { className: "sbw sbw-" + position, lang: LANG, "data-state": "bot" }, [panel, bubble]);

  var accent = script.getAttribute("data-accent");
  if (accent && window.CSS && CSS.supports && CSS.supports("color", accent)) frame.style.setProperty("--sbw-accent", accent);

  root.appendChild(stylesheet);
  root.appendChild(frame);

  // ------------------------------------------------------------------ messages

  var rows = new Map();        // message id -> row element
  var pending = [];            // customer messages not yet confirmed by the server
  // the server stores a pressed quick reply under its title, the widget sent its payload
  function sameText(item, message) {
    return message.text === item.text || (Boolean(item.display) && message.text === item.display);
  }
  var lastKnownId = 0;
  var unread = 0;
  var status = { state: "bot", queue_position: null, agent: null };
  var starterRow = null;

  function formatTime(iso) {
    if (!iso) return "";
    var date = new Date(iso);
    if (isNaN(date.getTime())) return "";
    var locale = { en: "en-GB", et: "et-EE", ru: "ru-RU" }[LANG];
    try { return date.toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit" }); } catch (e) { return ""; }
  }

  var URL_PATTERN = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g;
  function fillText(node, text) {
    // text nodes and <a> elements only: never HTML
    node.textContent = "";
    var last = 0;
    String(text).replace(URL_PATTERN, function (match, offset) {
      if (offset > last) node.appendChild(document.createTextNode(text.slice(last, offset)));
      var link = el("a", { href: match, target: "_blank", rel: "noopener noreferrer nofollow", title: t("link") });
      link.textContent = match;
      node.appendChild(link);
      last = offset + match.length;
      return match;
    });
    if (last < text.length) node.appendChild(document.createTextNode(text.slice(last)));
  }

  function authorOf(message) {
    if (message.role === "customer") return t("you");
    if (message.role === "bot") return message.author || botName;
    return message.author || "";
  }

  var EVENT_KINDS = { agent_joined: true, returned_to_bot: true };

  function makeRow(message, local) {
    var event = message.role === "bot" && message.meta && EVENT_KINDS[message.meta.kind];
    var row = el("div", {
      className: "sbw-row sbw-" + message.role + (event ? " sbw-event" : ""), "data-testid": "webchat-message", "data-role": message.role,
      "data-id": message.id || null, "data-local": local ? "true" : null,
    });
    row.appendChild(el("div", { className: "sbw-author", text: authorOf(message) }));
    var text = el("div", { className: "sbw-text", "data-testid": "webchat-text" });
    fillText(text, message.display || message.text || "");
    row.appendChild(text);
    row.appendChild(el("div", { className: "sbw-meta" }, [el("time", { datetime: message.created_at || null, text: formatTime(message.created_at) })]));
    if (message.role === "bot" && message.meta && message.meta.kind === "answer" && message.id) {
      row.appendChild(feedbackControl(message.id));
    }
    if (message.buttons && message.buttons.length) {
      var chips = el("div", { className: "sbw-chips", role: "group", "aria-label": message.text || "" });
      message.buttons.forEach(function (button) {
        var chip = el("button", { type: "button", className: "sbw-chip", "data-testid": "webchat-quick-reply", text: button.title });
        chip.addEventListener("click", function () { send(String(button.payload), String(button.title)); });
        chips.appendChild(chip);
      });
      row.appendChild(chips);
    }
    return row;
  }

  function feedbackControl(messageId) {
    var given = feedbackGiven()[messageId];
    var group = el("div", { className: "sbw-feedback", role: "group", "aria-label": t("helpful"), "data-testid": "webchat-feedback" });
    var label = el("span", { className: "sbw-feedback-label", text: t("helpful") });
    group.appendChild(label);
    [[true, ICON_THUMB_UP, "yes"], [false, ICON_THUMB_DOWN, "no"]].forEach(function (choice) {
      var button = el("button", {
        type: "button", className: "sbw-vote", "aria-label": t(choice[2]), title: t(choice[2]),
        "aria-pressed": given === choice[0] ? "true" : "false", "data-helpful": String(choice[0]),
        disabled: given !== undefined,
      }, [icon(choice[1], 16)]);
      button.addEventListener("click", function () {
        if (!ready()) { showNotice(t("offline")); return; }
        socket.send(JSON.stringify({ type: "feedback", message_id: messageId, helpful: choice[0] }));
        var all = feedbackGiven();
        all[messageId] = choice[0];
        save("feedback." + session, JSON.stringify(all));
        group.querySelectorAll("button").forEach(function (b) {
          b.disabled = true;
          b.setAttribute("aria-pressed", b === button ? "true" : "false");
        });
        input.focus(); // the router's thanks (or the bot's next try) arrives as a message
      });
      group.appendChild(button);
    });
    return group;
  }

  function markGroups() {
    // the author line shows only where the speaker changes; quick replies only until the customer answers
    var previous = null;
    var customerSeen = false;
    var all = log.querySelectorAll(".sbw-row");
    for (var i = all.length - 1; i >= 0; i--) {
      var chips = all[i].querySelector(".sbw-chips");
      if (chips) chips.hidden = customerSeen;
      if (all[i].getAttribute("data-role") === "customer") customerSeen = true;
    }
    all.forEach(function (row) {
      var author = row.querySelector(".sbw-author");
      var who = author && !row.classList.contains("sbw-event") ? row.getAttribute("data-role") + "|" + author.textContent : null;
      row.classList.toggle("sbw-continued", who !== null && who === previous);
      previous = who;
    });
  }

  function insertRow(row, id) {
    // by id: a late message goes where it belongs; unconfirmed customer messages stay last
    var after = null;
    var children = log.children;
    for (var i = children.length - 1; i >= 0; i--) {
      var other = Number(children[i].getAttribute("data-id") || 0);
      if (children[i].getAttribute("data-pending") === "true") continue;
      if (!other || other < id) { after = children[i]; break; }
    }
    if (after) log.insertBefore(row, after.nextSibling);
    else log.insertBefore(row, log.firstChild);
  }

  function scrollToEnd() { log.scrollTop = log.scrollHeight; }

  function addMessage(message, live) {
    if (!message || typeof message.id !== "number" || rows.has(message.id)) return;
    lastKnownId = Math.max(lastKnownId, message.id);
    if (message.role === "customer") {
      var index = pending.findIndex(function (p) { return p.state === "sent" && sameText(p, message); });
      if (index >= 0) { confirm(pending.splice(index, 1)[0], message); return; }
    }
    var row = makeRow(message, false);
    rows.set(message.id, row);
    insertRow(row, message.id);
    if (message.role !== "customer") {
      if (typingWho === message.role) hideTyping();
      if (live && panel.hidden) { unread += 1; updateBubble(); }
    }
    if (starterRow) { starterRow.remove(); starterRow = null; }
    markGroups();
    scrollToEnd();
  }

  function confirm(item, message) {
    item.row.removeAttribute("data-pending");
    item.row.classList.remove("sbw-sending", "sbw-failed");
    item.row.setAttribute("data-id", String(message.id));
    var time = item.row.querySelector("time");
    time.textContent = formatTime(message.created_at);
    time.setAttribute("datetime", message.created_at || "");
    var failure = item.row.querySelector(".sbw-failure");
    if (failure) failure.remove();
    rows.set(message.id, item.row);
  }

  function welcome(empty) {
    var row = makeRow({ role: "bot", text: t("welcome", { bot: botName }), author: botName, buttons: [], meta: {} }, true);
    row.querySelector(".sbw-meta").remove();
    log.appendChild(row);
    if (empty) {
      starterRow = el("div", { className: "sbw-row sbw-starters", "data-local": "true" });
      var chips = el("div", { className: "sbw-chips", role: "group", "aria-label": t("welcome", { bot: botName }) });
      T.starters.forEach(function (text) {
        var chip = el("button", { type: "button", className: "sbw-chip", "data-testid": "webchat-starter", text: text });
        chip.addEventListener("click", function () { send(text); });
        chips.appendChild(chip);
      });
      starterRow.appendChild(chips);
      log.appendChild(starterRow);
    }
  }

  // ------------------------------------------------------------------ status, typing, notices

  function applyStatus(next) {
    status = { state: next.state || "bot", queue_position: next.queue_position, agent: next.agent };
    var text;
    if (status.state === "waiting") {
      text = status.queue_position === 1 ? t("queueNext")
        : status.queue_position ? t("queueN", { n: status.queue_position }) : t("queueUnknown");
    } else if (status.state === "agent") {
      text = status.agent ? t("agentStatus", { agent: status.agent }) : t("queueUnknown");
    } else if (status.state === "closed") {
      text = t("closedStatus");
    } else {
      text = t("botStatus", { bot: botName });
    }
    statusText.textContent = text;
    frame.setAttribute("data-state", status.state);
    avatar.textContent = (status.state === "agent" && status.agent ? status.agent : botName).charAt(0).toUpperCase();
  }

  var typingWho = null;
  var typingTimer = null;
  function showTyping(who, name, ms) {
    typingWho = who;
    typingText.textContent = t("typing", { name: name });
    var atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    typing.hidden = false;
    if (atEnd) scrollToEnd();
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, ms);
  }
  function hideTyping() {
    typingWho = null;
    typing.hidden = true;
    clearTimeout(typingTimer);
  }

  var noticeTimer = null;
  function showNotice(text) {
    notice.textContent = text;
    notice.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(function () { notice.hidden = true; }, 7000);
  }

  function setConnection(text) {
    connection.textContent = text || "";
    connection.hidden = !text;
  }

  function updateBubble() {
    var open = !panel.hidden;
    bubble.setAttribute("aria-expanded", open ? "true" : "false");
    bubble.setAttribute("aria-label", open ? t("minimize") : unread ? t("openUnread", { n: unread }) : t("open"));
    unreadBadge.textContent = unread > 9 ? "9+" : String(unread);
    unreadBadge.hidden = open || !unread;
    frame.classList.toggle("sbw-open", open);
  }

  // ------------------------------------------------------------------ the socket

  var socket = null;
  var greeted = false;          // the history of this connection has arrived
  var attempt = 0;
  var retryTimer = null;

  function ready() { return socket && socket.readyState === WebSocket.OPEN && greeted; }

  function connect() {
    if (socket && (socket.readyState === WebSocket.CONNECTING || socket.readyState === WebSocket.OPEN)) return;
    clearTimeout(retryTimer);
    setConnection(attempt ? t("reconnecting") : null);
    var current = new WebSocket(SOCKET_URL.href);
    socket = current;
    greeted = false;
    current.addEventListener("open", function () {
      current.send(JSON.stringify({ type: "hello", session: session }));
    });
    current.addEventListener("message", function (event) {
      if (current !== socket) return;
      var data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      if (data && typeof data === "object") receive(data);
    });
    current.addEventListener("close", function () {
      if (current !== socket) return;
      greeted = false;
      pending.forEach(function (p) { if (p.state === "sent") p.state = "unknown"; });
      attempt += 1;
      var delay = Math.min(30000, 1000 * Math.pow(2, attempt - 1)) * (0.75 + Math.random() * 0.5);
      setConnection(navigator.onLine === false ? t("offline") : t("reconnecting"));
      retryTimer = setTimeout(connect, delay);
    });
  }

  function reconnectNow() {
    if (!socket || socket.readyState === WebSocket.CLOSED) { clearTimeout(retryTimer); connect(); }
  }
  window.addEventListener("online", reconnectNow);
  document.addEventListener("visibilitychange", function () { if (!document.hidden && socket) reconnectNow(); });

  function receive(data) {
    switch (data.type) {
      case "history": return onHistory(data);
      case "message": return addMessage(data.message, true);
      case "status": return applyStatus(data);
      case "typing":
        if (!data.active) { if (typingWho === data.who) hideTyping(); return; }
        if (data.who === "agent") showTyping("agent", data.agent || status.agent || t("title"), AGENT_TYPING_MS);
        else showTyping("bot", botName, BOT_TYPING_MAX_MS);
        return;
      case "error": return onError(data);
    }
  }

  function onHistory(data) {
    attempt = 0;
    greeted = true;
    setConnection(null);
    if (typeof data.bot_name === "string" && data.bot_name) botName = data.bot_name;
    if (typeof data.max_chars === "number" && data.max_chars > 0) MAX_CHARS = data.max_chars;
    var messages = Array.isArray(data.messages) ? data.messages : [];
    // messages sent on a socket that dropped: delivered if the history has them, otherwise offered for retry
    var unknown = pending.filter(function (p) { return p.state === "unknown"; });
    var found = {};
    unknown.forEach(function (p) {
      var match = messages.find(function (m) {
        return m.role === "customer" && sameText(p, m) && m.id > p.after && !found[m.id];
      });
      if (match) { found[match.id] = true; p.state = "done"; }
      else { p.state = "failed"; }
    });
    pending = pending.filter(function (p) { return p.state !== "done"; });
    rows.clear();
    log.textContent = "";
    starterRow = null;
    welcome(messages.length === 0 && pending.length === 0);
    messages.forEach(function (m) { addMessage(m, false); });
    pending.forEach(function (p) {
      log.appendChild(p.row);
      if (p.state === "failed") markFailed(p);
    });
    applyStatus(data.status || {});
    hideTyping();
    markGroups();
    scrollToEnd();
    pending.filter(function (p) { return p.state === "queued"; }).forEach(transmit);
  }

  function onError(data) {
    if (data.code === "bad_session") {
      session = newSessionId();
      save("session", session);
      if (socket) socket.close();
      return;
    }
    if (data.code === "too_many_messages" || data.code === "too_many_conversations") {
      // the message was refused and not stored: offer it for a later retry
      pending.filter(function (p) { return p.state === "sent"; }).forEach(markFailed);
      showNotice(t(data.code === "too_many_messages" ? "tooManyMessages" : "tooManyConversations"));
      return;
    }
    if (data.code === "busy") showNotice(t("busy"));
    else if (data.code === "too_long") showNotice(t("tooLong", { n: MAX_CHARS }));
    else showNotice(t("error"));
  }

  function markFailed(item) {
    item.state = "failed";
    item.row.classList.remove("sbw-sending");
    item.row.classList.add("sbw-failed");
    if (item.row.querySelector(".sbw-failure")) return;
    var retry = el("button", { type: "button", className: "sbw-retry", "data-testid": "webchat-retry", text: t("retry") });
    retry.addEventListener("click", function () {
      item.row.querySelector(".sbw-failure").remove();
      item.row.classList.add("sbw-sending");
      item.state = "queued";
      if (ready()) transmit(item);
      else connect();
    });
    item.row.appendChild(el("div", { className: "sbw-failure" }, [el("span", { text: t("failed") }), retry]));
  }

  function transmit(item) {
    item.state = "sent";
    item.after = lastKnownId;
    // the same id on every send of this message: the server stores and answers it once, however often it is sent
    var frameData = { type: "message", text: item.text, id: item.id };
    if (item.display) frameData.display = item.display;
    socket.send(JSON.stringify(frameData));
  }

  function send(text, display) {
    text = String(text || "").trim();
    if (!text) return;
    if (text.length > MAX_CHARS) { showNotice(t("tooLong", { n: MAX_CHARS })); return; }
    var row = makeRow({ role: "customer", text: text, display: display, buttons: [], meta: {} }, false);
    row.setAttribute("data-pending", "true");
    row.classList.add("sbw-sending");
    row.querySelector("time").textContent = t("sending");
    var item = { id: newSessionId().replace(/[^A-Za-z0-9_-]/g, ""), text: text, display: display, row: row,
                 state: "queued", after: lastKnownId };
    pending.push(item);
    if (starterRow) { starterRow.remove(); starterRow = null; }
    log.appendChild(row);
    markGroups();
    scrollToEnd();
    if (ready()) transmit(item);
    else { setConnection(navigator.onLine === false ? t("offline") : t("connecting")); connect(); }
  }

  // ------------------------------------------------------------------ interaction

  function open() {
    if (!panel.hidden) return;
    panel.hidden = false;
    unread = 0;
    updateBubble();
    save("open", "1");
    connect();
    scrollToEnd();
    input.focus();
  }

  function close() {
    if (panel.hidden) return;
    panel.hidden = true;
    save("open", "");
    updateBubble();
    bubble.focus();
  }

  bubble.addEventListener("click", function () { if (panel.hidden) open(); else close(); });
  closeButton.addEventListener("click", close);

  // ------------------------------------------------------------------ end chat: this browser forgets the conversation

  function askToEnd() {
    endConfirm.hidden = false;
    endNo.focus();
  }
  function cancelEnd() {
    endConfirm.hidden = true;
    endButton.focus();
  }

  function startOver(nextSession) {
    // the old socket is let go first, so its close starts no reconnection and its late frames are ignored
    var ended = socket;
    socket = null;
    greeted = false;
    attempt = 0;
    clearTimeout(retryTimer);
    if (ended) { try { ended.close(1000); } catch (e) { /* already closed */ } }
    session = nextSession;
    pending = [];
    rows.clear();
    lastKnownId = 0;
    unread = 0;
    log.textContent = "";
    starterRow = null;
    endConfirm.hidden = true;
    notice.hidden = true;
    hideTyping();
    setConnection(null);
    applyStatus({ state: "bot", queue_position: null, agent: null });
    welcome(true);
    updateBubble();
  }

  function endChat() {
    forgetStored();
    var next = newSessionId();
    save("session", next);        // the next message starts a new conversation, under this new id
    if (!panel.hidden) save("open", "1");
    startOver(next);
    input.value = "";
    input.style.height = "";
    if (!panel.hidden) input.focus();
  }

  endButton.addEventListener("click", function () { if (endConfirm.hidden) askToEnd(); else cancelEnd(); });
  endNo.addEventListener("click", cancelEnd);
  endYes.addEventListener("click", endChat);
  // the chat ended in another tab of this site: this one follows, to the new session that tab saved
  window.addEventListener("storage", function (event) {
    if (event.key === STORAGE + "session" && event.newValue && event.newValue !== session
        && SESSION_PATTERN.test(event.newValue)) startOver(event.newValue);
  });
  // on a phone the panel covers the page: it is a modal dialog, and Tab stays inside it
  var fullScreen = window.matchMedia ? window.matchMedia("(max-width: 520px)") : { matches: false };
  function markModal() {
    if (fullScreen.matches) panel.setAttribute("aria-modal", "true"); else panel.removeAttribute("aria-modal");
  }
  markModal();
  if (fullScreen.addEventListener) fullScreen.addEventListener("change", markModal);

  function keepFocusInside(event) {
    var focusable = Array.prototype.filter.call(
      panel.querySelectorAll("button, textarea, input, a[href], [tabindex]:not([tabindex='-1'])"),
      function (node) { return !node.disabled && node.getClientRects().length > 0; });
    if (!focusable.length) return;
    var first = focusable[0], last = focusable[focusable.length - 1];
    var active = root.activeElement || document.activeElement;
    if (event.shiftKey && (active === first || !panel.contains(active))) { event.preventDefault(); last.focus(); }
    else if (!event.shiftKey && (active === last || !panel.contains(active))) { event.preventDefault(); first.focus(); }
  }

  frame.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !endConfirm.hidden) { event.preventDefault(); cancelEnd(); }
    else if (event.key === "Escape" && !panel.hidden) { event.preventDefault(); close(); }
    else if (event.key === "Tab" && !panel.hidden && fullScreen.matches) keepFocusInside(event);
  });

  var lastTypingSent = 0;
  input.addEventListener("input", function () {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 132) + "px";
    var now = Date.now();
    if (input.value.trim() && ready() && now - lastTypingSent > TYPING_SEND_EVERY_MS) {
      lastTypingSent = now;
      socket.send(JSON.stringify({ type: "typing" }));
    }
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit ? form.requestSubmit() : submit();
    }
  });
  function submit() {
    var text = input.value;
    if (!text.trim()) { input.focus(); return; }
    if (text.length > MAX_CHARS) { // kept in the field, so the customer can shorten or split it
      input.setAttribute("aria-invalid", "true");
      showNotice(t("tooLong", { n: MAX_CHARS }));
      input.focus();
      return;
    }
    input.removeAttribute("aria-invalid");
    input.value = "";
    input.style.height = "";
    send(text);
    input.focus();
  }
  form.addEventListener("submit", function (event) { event.preventDefault(); submit(); });

  // ------------------------------------------------------------------ start

  function start() {
    document.body.appendChild(host);
    applyStatus(status);
    welcome(true);
    updateBubble();
    var wantOpen = script.getAttribute("data-open") === "true" || load("open") === "1";
    if (wantOpen) open();
    else if (returning) connect(); // a returning customer hears about agent replies even with the panel closed
  }

  window.SupportbotWebchat = { open: open, close: close, end: endChat, session: function () { return session; } };
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
