// Agent console: the page human agents use to take over conversations from the support bot.
// Talks to the JSON API and WebSocket described in docs/agent-console-api.md (under /console/api).
//
// SECURITY: every text that comes from the server (customer, bot, agent texts, names, FAQ questions,
// canned replies, error messages) is rendered with textContent / text nodes. This file never assigns
// innerHTML, outerHTML or insertAdjacentHTML, and never builds HTML from strings.
'use strict';

(() => {
  const API = '/console/api';
  const TYPING_SHOW_MS = 4000;       // how long "Customer is typing…" stays after a typing event
  const TYPING_SEND_MS = 2000;       // send our own typing event at most this often
  const ERROR_HIDE_MS = 12000;
  const CANNED_DEBOUNCE_MS = 250;
  const RECONNECT_MAX_MS = 30000;
  const LONG_WAIT_S = 300;           // waited time turns into a warning after 5 minutes

  const REASON = window.PROTOCOL.reasons;  // from /console/protocol.js
  const REASON_LABELS = {
    [REASON.OUT_OF_SCOPE]: 'Out of scope: the bot has no answer for this topic',
    [REASON.LOW_CONFIDENCE]: 'Low confidence: the bot was not sure of its answer',
    [REASON.HUMAN_REQUEST]: 'Customer asked for a human',
    [REASON.UPSET]: 'Customer is upset',
    [REASON.RUDE]: 'Customer is rude or abusive',
    [REASON.REPEATED_FAILURE]: 'Repeated failure: the bot did not understand several times',
    [REASON.TOPIC_POLICY]: 'Topic policy: this topic is always handled by a human',
    [REASON.BOT_UNAVAILABLE]: 'Bot unavailable: the assistant failed to answer (down, stalled or broken)',
  };
  const REASON_SHORT = {
    [REASON.OUT_OF_SCOPE]: 'Out of scope',
    [REASON.LOW_CONFIDENCE]: 'Low confidence',
    [REASON.HUMAN_REQUEST]: 'Asked for human',
    [REASON.UPSET]: 'Upset',
    [REASON.RUDE]: 'Rude',
    [REASON.REPEATED_FAILURE]: 'Repeated failure',
    [REASON.TOPIC_POLICY]: 'Policy topic',
    [REASON.BOT_UNAVAILABLE]: 'Bot failed',
  };
  const MOOD_REASONS = new Set([REASON.RUDE, REASON.UPSET]);  // the badges and queue items styled by the reason itself
  const LANGUAGES = { et: 'Estonian', ru: 'Russian', en: 'English' };
  const STATE_LABELS = { bot: 'With bot', waiting: 'Waiting', agent: 'With agent', closed: 'Closed' };
  const ROLES = new Set(['customer', 'bot', 'agent', 'note', 'system']);
  const NOTE_LABEL = 'Internal note — customer does not see this';

  const state = {
    me: null,                 // Agent
    waiting: [],              // ConversationSummary + _since (client ms epoch when the wait began)
    mine: [],
    openId: null,             // id of the conversation shown in the middle
    conv: null,               // Conversation details of openId
    messageIds: new Set(),
    openSeq: 0,
    drafts: new Map(),        // conversation id -> unsent composer text
    ws: null,
    wsWanted: false,
    wsAttempt: 0,
    wsTimer: null,
    wsEverOpened: false,
    lastTypingSent: 0,
    typingTimer: null,
    errorTimer: null,
    cannedTimer: null,
    cannedSeq: 0,
    cannedLanguage: null,
    tickTimer: null,
    sending: false,
    stickToBottom: true,      // the transcript follows new messages while the agent is at its bottom
  };

  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------- DOM helpers (text only)

  // el('span', {className: 'x', text: 'hello', dataset: {a: 1}, attrs: {title: 't'}}, child, 'text', ...)
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    if (props) {
      for (const [key, value] of Object.entries(props)) {
        if (value === undefined || value === null || value === false) continue;
        if (key === 'className') node.className = value;
        else if (key === 'text') node.textContent = String(value);
        else if (key === 'dataset') for (const [k, v] of Object.entries(value)) node.dataset[k] = String(v);
        else if (key === 'attrs') for (const [k, v] of Object.entries(value)) {
          if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? '' : String(v));
        }
        else if (key === 'on') for (const [k, v] of Object.entries(value)) node.addEventListener(k, v);
        else node[key] = value;
      }
    }
    for (const child of children) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function setText(node, text) {
    node.textContent = text === undefined || text === null ? '' : String(text);
  }

  function show(node, visible) {
    node.hidden = !visible;
  }

  function capitalize(text) {
    return text ? text.charAt(0).toUpperCase() + text.slice(1) : text;
  }

  // ---------------------------------------------------------------- formatting

  function customerLabel(c) {
    const name = c && typeof c.customer_name === 'string' ? c.customer_name.trim() : '';
    return name || `Customer #${c ? c.id : '?'}`;
  }

  function languageLabel(code) {
    if (!code) return 'Unknown';
    const name = LANGUAGES[String(code).toLowerCase()];
    return name ? `${name} (${code})` : String(code);
  }

  function reasonLabel(code) {
    if (!code) return 'Unknown';
    return REASON_LABELS[code] || String(code).replace(/_/g, ' ');
  }

  function reasonShort(code) {
    if (!code) return '';
    return REASON_SHORT[code] || String(code).replace(/_/g, ' ');
  }

  function formatDuration(totalSeconds) {
    const s = Math.max(0, Math.floor(totalSeconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = s % 60;
    const pad = (n) => String(n).padStart(2, '0');
    return h > 0 ? `${h}:${pad(m)}:${pad(sec)}` : `${m}:${pad(sec)}`;
  }

  function formatTime(iso) {
    const d = new Date(iso);
    if (!iso || Number.isNaN(d.getTime())) return { short: '', full: '' };
    const today = new Date();
    const sameDay = d.toDateString() === today.toDateString();
    const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    return {
      short: sameDay ? time : `${d.toLocaleDateString([], { day: 'numeric', month: 'short' })} ${time}`,
      full: d.toLocaleString(),
    };
  }

  // When the wait began, on the client's clock: waited_seconds is the server's own count, which avoids
  // trusting that both clocks agree; waiting_since is the fallback.
  function waitStart(summary) {
    if (summary && typeof summary.waited_seconds === 'number') return Date.now() - summary.waited_seconds * 1000;
    if (summary && summary.waiting_since) {
      const t = Date.parse(summary.waiting_since);
      if (!Number.isNaN(t)) return t;
    }
    return null;
  }

  function waitedSeconds(since) {
    return since === null || since === undefined ? null : (Date.now() - since) / 1000;
  }

  function isMine(c) {
    return Boolean(c && state.me && c.state === 'agent' && c.agent && c.agent.username === state.me.username);
  }

  // ---------------------------------------------------------------- API

  class ApiError extends Error {
    constructor(status, message, data) {
      super(message);
      this.status = status;
      this.data = data;
    }
  }

  async function api(method, path, body) {
    const options = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin' };
    if (body !== undefined) {
      options.headers['Content-Type'] = 'application/json';
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(API + path, options);
    } catch (err) {
      throw new ApiError(0, 'Cannot reach the server. Check the connection and try again.');
    }
    let data = null;
    if (response.status !== 204) {
      const raw = await response.text();
      if (raw) {
        try { data = JSON.parse(raw); } catch (err) { data = null; }
      }
    }
    if (!response.ok) {
      const message = data && typeof data.error === 'string' && data.error
        ? data.error
        : `${response.status} ${response.statusText || 'error'}`;
      const error = new ApiError(response.status, message, data);
      if (response.status === 401 && path !== '/login' && path !== '/me') sessionExpired();
      throw error;
    }
    return data;
  }

  // ---------------------------------------------------------------- errors and announcements

  function showError(message) {
    const banner = $('error-banner');
    setText($('error-text'), message);
    show(banner, true);
    clearTimeout(state.errorTimer);
    state.errorTimer = setTimeout(hideError, ERROR_HIDE_MS);
  }

  function hideError() {
    clearTimeout(state.errorTimer);
    show($('error-banner'), false);
    setText($('error-text'), '');
  }

  function reportError(err, prefix) {
    const text = err && err.message ? err.message : String(err);
    showError(prefix ? `${prefix}: ${text}` : capitalize(text));
  }

  function announce(text) {
    const region = $('announcer');
    region.append(el('div', { text }));
    while (region.childElementCount > 5) region.firstElementChild.remove();
  }

  // ---------------------------------------------------------------- views: login / console

  function showView(name) {
    show($('loading-view'), name === 'loading');
    show($('login-view'), name === 'login');
    show($('console-view'), name === 'console');
  }

  function showLogin() {
    showView('login');
    $('login-password').value = '';
    $('login-submit').disabled = false;
    $('login-username').focus();
  }

  async function boot() {
    bindEvents();
    try {
      const data = await api('GET', '/me');
      enterConsole(data.agent);
    } catch (err) {
      showLogin();
      if (err.status !== 401) reportError(err);
    }
  }

  function enterConsole(agent) {
    state.me = agent;
    setText($('agent-name'), agent.display_name || agent.username);
    show($('agents-toggle'), agent.role === 'admin');
    show($('nav-analytics'), agent.role === 'admin');
    showView('console');
    hideError();
    renderConversation();
    loadQueue();
    connectLive();
    clearInterval(state.tickTimer);
    state.tickTimer = setInterval(tick, 1000);
    const match = /^#conversation-(\d+)$/.exec(location.hash);
    if (match) openConversation(Number(match[1]));
  }

  function leaveConsole() {
    state.wsWanted = false;
    clearTimeout(state.wsTimer);
    if (state.ws) {
      const ws = state.ws;
      state.ws = null;
      try { ws.close(1000, 'logout'); } catch (err) { /* already closed */ }
    }
    clearInterval(state.tickTimer);
    clearTimeout(state.typingTimer);
    state.me = null;
    state.waiting = [];
    state.mine = [];
    state.openId = null;
    state.conv = null;
    state.messageIds = new Set();
    state.drafts = new Map();
    state.wsEverOpened = false;
    state.wsAttempt = 0;
    $('composer').value = '';
    $('canned-search').value = '';
    $('canned-results').replaceChildren();
    setText($('canned-status'), '');
    $('queue-waiting').replaceChildren();
    $('queue-mine').replaceChildren();
    $('undelivered-list').replaceChildren();
    $('agents-list').replaceChildren();
    show($('agents-panel'), false);
    show($('agents-toggle'), false);
    document.title = 'Agent console';
    history.replaceState(null, '', location.pathname + location.search);
  }

  function sessionExpired() {
    if (!state.me) return;
    leaveConsole();
    showLogin();
    showError('Your session has ended. Please sign in again.');
  }

  async function onLogin(event) {
    event.preventDefault();
    const username = $('login-username').value.trim();
    const password = $('login-password').value;
    if (!username || !password) {
      showError('Enter your username and password.');
      (username ? $('login-password') : $('login-username')).focus();
      return;
    }
    $('login-submit').disabled = true;
    try {
      const data = await api('POST', '/login', { username, password });
      $('login-password').value = '';
      enterConsole(data.agent);
    } catch (err) {
      if (err.status === 401) showError('Wrong username or password.');
      else reportError(err, 'Sign in failed');
      $('login-password').value = '';
      $('login-password').focus();
    } finally {
      $('login-submit').disabled = false;
    }
  }

  async function onLogout() {
    try { await api('POST', '/logout'); } catch (err) { /* the session is dropped locally anyway */ }
    leaveConsole();
    showLogin();
  }

  // ---------------------------------------------------------------- queue

  function stamp(summary) {
    return Object.assign({}, summary, { _since: waitStart(summary) });
  }

  function setQueue(waiting, mine, undelivered) {
    state.waiting = (Array.isArray(waiting) ? waiting : []).map(stamp);
    state.mine = (Array.isArray(mine) ? mine : []).map(stamp);
    renderQueue();
    renderUndelivered(Array.isArray(undelivered) ? undelivered : []);
  }

  // Dead letters: messages a channel could not deliver after every retry.
  function renderUndelivered(items) {
    $('undelivered-list').replaceChildren(...items.map((d) => el('li', { className: 'undelivered-item', attrs: { 'data-testid': 'undelivered-item' } },
      el('span', { className: 'qi-top' },
        el('span', { className: 'qi-name', text: `#${d.conversation_id} · ${d.channel}` }),
        el('span', { className: 'muted small', text: `${d.tries} tries` })),
      el('span', { className: 'qi-last', text: (d.message && d.message.text) || '—' }),
      el('span', { className: 'qi-bottom' },
        el('button', { type: 'button', className: 'link-button', text: 'Open', on: { click: () => openConversation(d.conversation_id) } }),
        el('button', {
          type: 'button', className: 'link-button', text: 'Dealt with', attrs: { 'data-testid': 'undelivered-dismiss' },
          on: { click: () => dismissUndelivered(d.message.id) },
        })))));
    setText($('undelivered-count'), items.length);
    show($('undelivered-section'), items.length > 0);
  }

  async function dismissUndelivered(messageId) {
    try {
      await api('POST', `/undelivered/${encodeURIComponent(messageId)}/dismiss`);
      await loadQueue();
    } catch (err) {
      reportError(err, 'Could not mark it as dealt with');
    }
  }

  // ---------------------------------------------------------------- agents (admins only)

  function toggleAgentsPanel() {
    const open = $('agents-panel').hidden;
    show($('agents-panel'), open);
    $('agents-toggle').setAttribute('aria-expanded', String(open));
    if (open) loadAgents();
  }

  async function loadAgents() {
    try {
      const data = await api('GET', '/agents');
      $('agents-list').replaceChildren(...data.agents.map((a) => el('tr', { dataset: { username: a.username } },
        el('td', { text: a.username }),
        el('td', { text: a.display_name }),
        el('td', { text: a.role === 'admin' ? 'Admin' : 'Agent' }),
        el('td', { text: a.active ? 'Active' : 'Deactivated' }),
        el('td', null, state.me && a.username === state.me.username ? null : el('button', {
          type: 'button', className: a.active ? 'danger' : '', text: a.active ? 'Deactivate' : 'Activate',
          attrs: { 'data-testid': `agent-${a.active ? 'deactivate' : 'activate'}` },
          on: { click: () => setAgentActive(a, !a.active) },
        })))));
    } catch (err) {
      reportError(err, 'Could not load the agents');
    }
  }

  async function setAgentActive(agent, active) {
    try {
      await api('POST', `/agents/${encodeURIComponent(agent.id)}/${active ? 'activate' : 'deactivate'}`);
      announce(`${agent.username} ${active ? 'activated' : 'deactivated'}`);
      await loadAgents();
    } catch (err) {
      reportError(err, 'Could not change the agent');
    }
  }

  async function onAddAgent(event) {
    event.preventDefault();
    const username = $('agent-username').value.trim();
    const password = $('agent-password').value;
    if (!username || password.length < 8) {
      showError('Give a username and a password of 8 characters or more.');
      return;
    }
    try {
      await api('POST', '/agents', {
        username, password, display_name: $('agent-display-name').value.trim() || null, role: $('agent-role').value,
      });
      $('agent-form').reset();
      announce(`${username} added`);
      await loadAgents();
    } catch (err) {
      reportError(err, 'Could not add the agent');
    }
  }

  async function loadQueue() {
    try {
      const data = await api('GET', '/queue');
      if (state.me) setQueue(data.waiting, data.mine, data.undelivered);
    } catch (err) {
      if (err.status !== 401) reportError(err, 'Could not load the queue');
    }
  }

  function reasonBadge(code) {
    if (!code) return null;
    const cls = MOOD_REASONS.has(code) ? code : 'other';
    return el('span', {
      className: `badge reason-badge reason-${cls}`,
      text: reasonShort(code),
      attrs: { title: reasonLabel(code) },
    });
  }

  function queueItem(summary, list) {
    const isOpen = summary.id === state.openId;
    const unread = isOpen ? 0 : Number(summary.unread) || 0;
    const waited = list === 'waiting' && summary._since !== null
      ? el('span', {
        className: 'qi-waited',
        text: formatDuration(waitedSeconds(summary._since)),
        dataset: { since: summary._since },
        attrs: { title: 'Waiting time' },
      })
      : null;
    const button = el('button', {
      type: 'button',
      className: `queue-item${isOpen ? ' active' : ''}${MOOD_REASONS.has(summary.reason) ? ` qi-${summary.reason}` : ''}`,
      dataset: { conversationId: summary.id, list },
      attrs: { 'data-testid': 'queue-item', 'aria-current': isOpen ? 'true' : null },
      on: { click: () => openConversation(summary.id) },
    },
    el('span', { className: 'qi-top' },
      reasonBadge(summary.reason),
      el('span', { className: 'qi-name', text: customerLabel(summary) }),
      waited,
      unread > 0 ? el('span', {
        className: 'badge unread', text: String(unread), attrs: { title: `${unread} unread`, 'aria-label': `${unread} unread` },
      }) : null),
    el('span', { className: 'qi-last', text: summary.last_message || '—' }),
    el('span', { className: 'qi-bottom' },
      el('span', { className: 'badge lang', text: (summary.language || '?').toUpperCase(), attrs: { title: languageLabel(summary.language) } }),
      el('span', { className: 'qi-channel', text: summary.channel || '' }),
      list === 'mine' && summary.state && summary.state !== 'agent'
        ? el('span', { className: 'qi-state', text: STATE_LABELS[summary.state] || summary.state }) : null,
      el('span', { className: 'qi-id', text: `#${summary.id}` })));
    return el('li', null, button);
  }

  function renderQueue() {
    const active = document.activeElement;
    const focused = active && active.matches && active.matches('[data-testid="queue-item"]')
      ? { id: active.dataset.conversationId, list: active.dataset.list } : null;

    $('queue-waiting').replaceChildren(...state.waiting.map((s) => queueItem(s, 'waiting')));
    $('queue-mine').replaceChildren(...state.mine.map((s) => queueItem(s, 'mine')));
    setText($('waiting-count'), state.waiting.length);
    setText($('mine-count'), state.mine.length);
    show($('waiting-empty'), state.waiting.length === 0);
    show($('mine-empty'), state.mine.length === 0);
    const unreadMine = state.mine.reduce((n, s) => n + (s.id === state.openId ? 0 : Number(s.unread) || 0), 0);
    const parts = [];
    if (state.waiting.length) parts.push(`${state.waiting.length} waiting`);
    if (unreadMine) parts.push(`${unreadMine} unread`);
    document.title = parts.length ? `(${parts.join(', ')}) Agent console` : 'Agent console';

    if (focused) {
      const again = document.querySelector(
        `[data-testid="queue-item"][data-list="${focused.list}"][data-conversation-id="${CSS.escape(focused.id)}"]`)
        || document.querySelector(`[data-testid="queue-item"][data-conversation-id="${CSS.escape(focused.id)}"]`);
      if (again) again.focus();
    }
  }

  function sortWaiting() {
    const key = (s) => {
      const t = s.waiting_since ? Date.parse(s.waiting_since) : NaN;
      return Number.isNaN(t) ? (s._since ?? 0) : t;
    };
    state.waiting.sort((a, b) => (a.priority ?? 2) - (b.priority ?? 2) || key(a) - key(b));
  }

  // Applies a `conversation` event (a state change) to the lists until the next `queue` event.
  function applySummary(summary) {
    const stamped = stamp(summary);
    const keep = (list) => list.filter((s) => s.id !== summary.id);
    const previousMine = state.mine.find((s) => s.id === summary.id);
    state.waiting = keep(state.waiting);
    state.mine = keep(state.mine);
    if (summary.state === 'waiting') {
      state.waiting.push(stamped);
      sortWaiting();
    } else if (isMine(summary)) {
      if (previousMine && stamped.unread === undefined) stamped.unread = previousMine.unread;
      state.mine.unshift(stamped);
    }
    renderQueue();
  }

  function noteMessageInQueue(message) {
    let changed = false;
    for (const s of state.waiting.concat(state.mine)) {
      if (s.id !== message.conversation_id) continue;
      if (message.role === 'customer' || message.role === 'bot' || message.role === 'agent') {
        s.last_message = message.text;
        changed = true;
      }
    }
    const mine = state.mine.find((s) => s.id === message.conversation_id);
    if (mine && message.role === 'customer' && message.conversation_id !== state.openId) {
      mine.unread = (Number(mine.unread) || 0) + 1;
      announce(`New message from ${customerLabel(mine)}`);
      changed = true;
    }
    if (changed) renderQueue();
  }

  function tick() {
    for (const node of document.querySelectorAll('.qi-waited[data-since]')) {
      const seconds = waitedSeconds(Number(node.dataset.since));
      setText(node, formatDuration(seconds));
      node.classList.toggle('long', seconds >= LONG_WAIT_S);
    }
    const waited = $('conv-waited');
    if (waited && waited.dataset.since) setText(waited, `waiting ${formatDuration(waitedSeconds(Number(waited.dataset.since)))}`);
  }

  function onQueueKeydown(event) {
    if (event.key !== 'ArrowDown' && event.key !== 'ArrowUp') return;
    const items = [...document.querySelectorAll('[data-testid="queue-item"]')];
    const index = items.indexOf(document.activeElement);
    if (index < 0) return;
    event.preventDefault();
    const next = items[Math.min(items.length - 1, Math.max(0, index + (event.key === 'ArrowDown' ? 1 : -1)))];
    next.focus();
  }

  // ---------------------------------------------------------------- conversation

  async function openConversation(id) {
    if (!state.me) return;
    if (state.openId !== null && state.openId !== id) state.drafts.set(state.openId, $('composer').value);
    const switching = state.openId !== id;
    const seq = ++state.openSeq;
    state.openId = id;
    history.replaceState(null, '', `#conversation-${id}`);
    for (const s of state.mine) if (s.id === id) s.unread = 0;
    renderQueue();
    try {
      const conv = await api('GET', `/conversations/${encodeURIComponent(id)}`);
      if (seq !== state.openSeq || !state.me) return;
      setConversation(conv, { fresh: switching });
    } catch (err) {
      if (seq !== state.openSeq) return;
      if (err.status === 404) {
        showError(`Conversation #${id} does not exist any more.`);
        closeConversationView();
        loadQueue();
      } else if (err.status !== 401) {
        reportError(err, 'Could not open the conversation');
      }
    }
  }

  async function refreshConversation() {
    if (state.openId === null) return;
    const seq = state.openSeq;
    try {
      const conv = await api('GET', `/conversations/${encodeURIComponent(state.openId)}`);
      if (seq === state.openSeq && state.me) setConversation(conv, { fresh: false });
    } catch (err) {
      if (err.status !== 401 && err.status !== 404) reportError(err, 'Could not refresh the conversation');
    }
  }

  function closeConversationView() {
    state.openId = null;
    state.conv = null;
    state.messageIds = new Set();
    history.replaceState(null, '', location.pathname + location.search);
    renderConversation();
    renderQueue();
  }

  function setConversation(conv, { fresh }) {
    const previous = state.conv;
    state.conv = Object.assign({}, conv, { _since: waitStart(conv) }, fresh ? {} : keptEarlier(previous, conv));
    state.openId = conv.id;
    if (fresh || !previous || previous.id !== conv.id) {
      hideTyping();
      hideCloseForm();
      $('composer').value = state.drafts.get(conv.id) || '';
      setMode('reply');
    }
    renderConversation({ fresh });
    const language = conversationLanguage();
    if (language !== state.cannedLanguage && $('canned-search').value.trim()) searchCanned();
  }

  // The earlier pages the agent loaded stay when the conversation is refreshed, as long as they join its latest page.
  function keptEarlier(previous, conv) {
    if (!previous || previous.id !== conv.id || !conv.has_earlier) return {};
    const before = Array.isArray(previous.messages) ? previous.messages : [];
    const latest = Array.isArray(conv.messages) ? conv.messages : [];
    if (!before.length || !latest.length || before[before.length - 1].id < latest[0].id) return {};
    const older = before.filter((m) => m.id < latest[0].id);
    if (!older.length) return {};
    return { messages: older.concat(latest), has_earlier: Boolean(previous.has_earlier) };
  }

  async function loadEarlier(button) {
    const c = state.conv;
    const messages = c && Array.isArray(c.messages) ? c.messages : [];
    if (!messages.length) return;
    const id = c.id;
    button.disabled = true;
    setText(button, 'Loading…');
    try {
      const params = new URLSearchParams({ before: String(messages[0].id) });
      const page = await api('GET', `/conversations/${encodeURIComponent(id)}/messages?${params.toString()}`);
      if (!state.conv || state.conv.id !== id) return;
      const known = new Set(state.conv.messages.map((m) => m.id));
      const older = (Array.isArray(page.messages) ? page.messages : []).filter((m) => !known.has(m.id));
      const transcript = $('transcript');
      const fromBottom = transcript.scrollHeight - transcript.scrollTop;
      state.conv.messages = older.concat(state.conv.messages);
      state.conv.has_earlier = Boolean(page.has_earlier);
      state.stickToBottom = false;
      renderTranscript(false);
      transcript.scrollTop = transcript.scrollHeight - fromBottom;  // the messages read so far stay in view
    } catch (err) {
      button.disabled = false;
      setText(button, 'Show earlier messages');
      if (err.status !== 401) reportError(err, 'Could not load earlier messages');
    }
  }

  function earlierControl() {
    const button = el('button', {
      type: 'button', className: 'show-earlier', text: 'Show earlier messages',
      attrs: { 'data-testid': 'show-earlier' }, on: { click: () => loadEarlier(button) },
    });
    return el('li', { className: 'transcript-earlier' }, button);
  }

  function conversationLanguage() {
    const c = state.conv;
    if (!c) return null;
    return (c.handoff && c.handoff.language) || c.language || null;
  }

  function renderConversation(options = {}) {
    const c = state.conv;
    show($('no-conversation'), !c);
    show($('conversation'), Boolean(c));
    renderPacket();
    if (!c) return;
    renderHeader();
    renderTranscript(options.fresh);
    updateComposer();
  }

  function renderHeader() {
    const c = state.conv;
    setText($('conv-title'), customerLabel(c));
    const meta = [];
    meta.push(el('span', { className: `badge state state-${c.state}`, text: STATE_LABELS[c.state] || c.state }));
    const badge = reasonBadge(c.reason || (c.handoff && c.handoff.reason));
    if (badge) meta.push(badge);
    meta.push(el('span', { text: `#${c.id}` }));
    if (c.channel) meta.push(el('span', { text: c.channel }));
    meta.push(el('span', { text: languageLabel(conversationLanguage()) }));
    if (c.state === 'waiting' && c._since !== null) {
      meta.push(el('span', {
        id: 'conv-waited', className: 'conv-waited',
        text: `waiting ${formatDuration(waitedSeconds(c._since))}`, dataset: { since: c._since },
      }));
    }
    if (c.agent) {
      meta.push(el('span', {
        text: isMine(c) || (state.me && c.agent.username === state.me.username)
          ? 'Claimed by you' : `Claimed by ${c.agent.display_name || c.agent.username}`,
      }));
    }
    $('conv-meta').replaceChildren(...meta);

    const mine = isMine(c);
    show($('claim'), c.state === 'waiting');
    $('claim').disabled = false;
    show($('return-to-bot'), mine);
    $('return-to-bot').disabled = false;
    show($('close'), mine);
    $('close').disabled = false;
    if (!mine) hideCloseForm();
  }

  function authorLabel(m) {
    if (m.author) return m.author;
    switch (m.role) {
      case 'customer': return state.conv ? customerLabel(state.conv) : 'Customer';
      case 'bot': return 'Bot';
      case 'agent': return 'Agent';
      case 'note': return 'Agent';
      default: return '';
    }
  }

  function messageNode(m) {
    const role = ROLES.has(m.role) ? m.role : 'system';
    const time = formatTime(m.created_at);
    const timeNode = time.short
      ? el('time', { className: 'msg-time', text: time.short, attrs: { datetime: m.created_at, title: time.full } })
      : null;
    const attrs = { 'data-testid': 'message', 'data-role': m.role, 'data-message-id': m.id };
    if (role === 'system') {
      return el('li', { className: 'msg msg-system', attrs },
        el('span', { className: 'msg-text', text: m.text }), ' ', timeNode);
    }
    const buttons = Array.isArray(m.buttons) && m.buttons.length
      ? el('ul', { className: 'msg-buttons', attrs: { 'aria-label': 'Buttons offered to the customer' } },
        ...m.buttons.map((b) => el('li', {
          text: typeof b === 'string' ? b : (b && (b.title || b.payload)) || '',
        })))
      : null;
    return el('li', { className: `msg msg-${role}`, attrs },
      role === 'note' ? el('div', { className: 'note-label', text: NOTE_LABEL }) : null,
      el('div', { className: 'msg-head' },
        el('span', { className: 'msg-author', text: authorLabel(m) }),
        timeNode),
      el('p', { className: 'msg-text', text: m.text }),
      buttons);
  }

  function nearBottom(node) {
    return node.scrollHeight - node.scrollTop - node.clientHeight < 80;
  }

  function renderTranscript(fresh) {
    const transcript = $('transcript');
    const stick = fresh || state.stickToBottom;
    const scrollTop = transcript.scrollTop;
    const messages = Array.isArray(state.conv.messages) ? state.conv.messages : [];
    state.messageIds = new Set(messages.map((m) => m.id).filter((id) => id !== undefined && id !== null));
    transcript.replaceChildren(...messages.map(messageNode));
    if (state.conv.has_earlier && messages.length) transcript.prepend(earlierControl());
    if (messages.length === 0) transcript.append(el('li', { className: 'msg msg-empty', text: 'No messages yet.' }));
    transcript.scrollTop = stick ? transcript.scrollHeight : scrollTop;
    state.stickToBottom = stick;
  }

  function appendMessage(m) {
    if (!state.conv || m.conversation_id !== state.conv.id) return false;
    if (m.id !== undefined && m.id !== null) {
      if (state.messageIds.has(m.id)) return false;
      state.messageIds.add(m.id);
    }
    if (!Array.isArray(state.conv.messages)) state.conv.messages = [];
    state.conv.messages.push(m);
    const transcript = $('transcript');
    const stick = state.stickToBottom || m.role === 'agent' || m.role === 'note';
    const empty = transcript.querySelector('.msg-empty');
    if (empty) empty.remove();
    transcript.append(messageNode(m));
    if (stick) {
      transcript.scrollTop = transcript.scrollHeight;
      state.stickToBottom = true;
    }
    if (m.role === 'customer') {
      hideTyping();
      announce(`${authorLabel(m)}: ${m.text}`);
    } else if (m.role === 'bot' || m.role === 'system') {
      announce(`${m.role === 'bot' ? 'Bot' : 'System'}: ${m.text}`);
    }
    return true;
  }

  function renderPacket() {
    const c = state.conv;
    show($('packet-empty'), !c);
    show($('packet-body'), Boolean(c));
    if (!c) return;
    const h = c.handoff || {};
    const reason = h.reason || c.reason;
    const reasonNode = $('packet-reason');
    setText(reasonNode, reasonLabel(reason));
    reasonNode.className = `reason-text reason-${MOOD_REASONS.has(reason) ? reason : 'other'}`;
    reasonNode.dataset.reason = reason || '';
    setText($('packet-sentiment'), capitalize(h.sentiment || c.sentiment || 'unknown'));
    setText($('packet-language'), languageLabel(conversationLanguage()));
    setText($('packet-customer'), customerLabel(c));
    setText($('packet-channel'), c.channel || '—');

    const resolution = c.resolution;
    show($('packet-resolution-dt'), Boolean(resolution));
    show($('packet-resolution'), Boolean(resolution));
    setText($('packet-resolution'), resolution || '');
    const rating = c.rating;
    const hasRating = rating !== null && rating !== undefined;
    show($('packet-rating-dt'), hasRating);
    show($('packet-rating'), hasRating);
    setText($('packet-rating'), !hasRating ? '' : typeof rating === 'object'
      ? (rating.score ?? rating.value ?? JSON.stringify(rating)) : rating);

    const considered = Array.isArray(h.considered) ? h.considered : [];
    $('packet-considered').replaceChildren(...considered.map((entry) => {
      const score = Number(entry.score);
      const hasScore = Number.isFinite(score);
      return el('li', null,
        el('span', { className: 'faq-question', text: entry.question || entry.id || '' }),
        el('span', { className: 'faq-meta' },
          el('span', { className: 'faq-id', text: entry.id || '' }),
          hasScore ? el('meter', {
            min: 0, max: 1, value: Math.max(0, Math.min(1, score)),
            attrs: { 'aria-label': `Score ${score.toFixed(2)}` },
          }) : null,
          hasScore ? el('span', { className: 'faq-score', text: score.toFixed(2) }) : null));
    }));
    show($('packet-considered-empty'), considered.length === 0);

    const suggested = typeof h.suggested_reply === 'string' ? h.suggested_reply : '';
    show($('suggested'), Boolean(suggested));
    setText($('suggested-text'), suggested);
  }

  // ---------------------------------------------------------------- composer

  function currentMode() {
    return $('mode-note').checked ? 'note' : 'reply';
  }

  function setMode(mode) {
    $('mode-note').checked = mode === 'note';
    $('mode-reply').checked = mode !== 'note';
    updateComposer();
  }

  function updateComposer() {
    const c = state.conv;
    const mode = currentMode();
    const form = $('composer-form');
    form.dataset.mode = mode;
    const composer = $('composer');
    const closed = !c || c.state === 'closed';
    const canReply = isMine(c);
    let hint = '';
    if (closed) hint = c ? 'This conversation is closed.' : '';
    else if (mode === 'reply' && !canReply) {
      hint = c.state === 'waiting' ? 'Claim the conversation to reply to the customer.'
        : 'You do not own this conversation: only internal notes are possible.';
    } else if (mode === 'note') hint = 'Only agents see internal notes.';
    setText($('composer-hint'), hint);
    composer.disabled = closed;
    $('mode-reply').disabled = closed;
    $('mode-note').disabled = closed;
    $('send').disabled = closed || state.sending || (mode === 'reply' && !canReply);
    setText($('send'), mode === 'note' ? 'Add note' : 'Send');
    composer.placeholder = mode === 'note'
      ? 'Write an internal note… (Enter adds it, Shift+Enter adds a new line)'
      : 'Write a reply to the customer… (Enter sends, Shift+Enter adds a new line)';
  }

  async function onSend(event) {
    if (event) event.preventDefault();
    const c = state.conv;
    const composer = $('composer');
    const text = composer.value.trim();
    if (!c || !text || state.sending) return;
    const mode = currentMode();
    if (mode === 'reply' && !isMine(c)) {
      showError(c.state === 'waiting' ? 'Claim the conversation before replying.' : 'You do not own this conversation.');
      return;
    }
    const id = c.id;
    state.sending = true;
    updateComposer();
    try {
      const message = await api('POST', `/conversations/${encodeURIComponent(id)}/${mode === 'note' ? 'notes' : 'messages'}`, { text });
      state.drafts.delete(id);
      if (state.conv && state.conv.id === id) {
        if (composer.value.trim() === text) composer.value = '';
        if (message) appendMessage(message);
      }
    } catch (err) {
      if (err.status === 409) {
        reportError(err, 'Not sent');
        refreshConversation();
        loadQueue();
      } else if (err.status !== 401) {
        reportError(err, 'Not sent');
      }
    } finally {
      state.sending = false;
      updateComposer();
      if (state.conv && !composer.disabled) composer.focus();
    }
  }

  function onComposerKeydown(event) {
    if (event.key === 'Enter' && !event.shiftKey && !event.altKey && !event.ctrlKey && !event.metaKey
        && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      onSend();
    }
  }

  function onComposerInput() {
    const c = state.conv;
    if (!c) return;
    state.drafts.set(c.id, $('composer').value);
    // Typing events tell the customer an agent is writing: never for internal notes.
    if (currentMode() !== 'reply' || !isMine(c) || !$('composer').value) return;
    const now = Date.now();
    if (now - state.lastTypingSent < TYPING_SEND_MS) return;
    state.lastTypingSent = now;
    const ws = state.ws;
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({ type: 'typing', conversation_id: c.id }));
    } else {
      api('POST', `/conversations/${encodeURIComponent(c.id)}/typing`).catch(() => {});
    }
  }

  function insertIntoComposer(text, { replace = false } = {}) {
    const composer = $('composer');
    if (composer.disabled) return;
    if (replace || !composer.value) {
      composer.value = text;
      composer.setSelectionRange(text.length, text.length);
    } else {
      const start = composer.selectionStart ?? composer.value.length;
      const end = composer.selectionEnd ?? composer.value.length;
      const before = composer.value.slice(0, start);
      const glue = before && !/\s$/.test(before) ? ' ' : '';
      composer.setRangeText(glue + text, start, end, 'end');
    }
    composer.focus();
    onComposerInput();
  }

  // ---------------------------------------------------------------- actions: claim, return, close

  async function onClaim() {
    const c = state.conv;
    if (!c) return;
    const id = c.id;
    $('claim').disabled = true;
    try {
      const conv = await api('POST', `/conversations/${encodeURIComponent(id)}/claim`);
      if (state.openId === id) {
        setConversation(conv, { fresh: false });
        announce(`You claimed the conversation with ${customerLabel(conv)}.`);
        $('composer').focus();
      }
      loadQueue();
    } catch (err) {
      if (err.status === 409) {
        const match = /claimed by\s+(.+)$/i.exec(err.message || '');
        showError(match ? `Already claimed by ${match[1]}` : capitalize(err.message || 'Already claimed by another agent'));
        loadQueue();
        refreshConversation();
      } else if (err.status !== 401) {
        reportError(err, 'Could not claim');
      }
      $('claim').disabled = false;
    }
  }

  async function onReturnToBot() {
    const c = state.conv;
    if (!c) return;
    const id = c.id;
    $('return-to-bot').disabled = true;
    try {
      const conv = await api('POST', `/conversations/${encodeURIComponent(id)}/return`);
      if (state.openId === id) setConversation(conv, { fresh: false });
      announce('The conversation went back to the bot.');
      loadQueue();
    } catch (err) {
      if (err.status !== 401) reportError(err, 'Could not return to the bot');
      $('return-to-bot').disabled = false;
      if (err.status === 409) { refreshConversation(); loadQueue(); }
    }
  }

  function showCloseForm() {
    show($('close-form'), true);
    $('close').setAttribute('aria-expanded', 'true');
    $('close-resolution').focus();
  }

  function hideCloseForm() {
    show($('close-form'), false);
    $('close').setAttribute('aria-expanded', 'false');
    $('close-resolution').value = '';
    $('close-resolution').removeAttribute('aria-invalid');
    $('close-tell').checked = true;
  }

  async function onCloseConfirm(event) {
    event.preventDefault();
    const c = state.conv;
    if (!c) return;
    const input = $('close-resolution');
    const resolution = input.value.trim();
    if (!resolution) {
      input.setAttribute('aria-invalid', 'true');
      showError('Write the resolution before closing the conversation.');
      input.focus();
      return;
    }
    const id = c.id;
    $('close-confirm').disabled = true;
    try {
      const tellCustomer = $('close-tell').checked;
      const conv = await api('POST', `/conversations/${encodeURIComponent(id)}/close`, { resolution, tell_customer: tellCustomer });
      hideCloseForm();
      state.drafts.delete(id);
      if (state.openId === id) {
        $('composer').value = '';
        setConversation(conv, { fresh: false });
      }
      announce('The conversation is closed.');
      loadQueue();
    } catch (err) {
      if (err.status !== 401) reportError(err, 'Could not close');
      if (err.status === 409) { refreshConversation(); loadQueue(); }
    } finally {
      $('close-confirm').disabled = false;
    }
  }

  // ---------------------------------------------------------------- canned replies

  function scheduleCannedSearch() {
    clearTimeout(state.cannedTimer);
    state.cannedTimer = setTimeout(searchCanned, CANNED_DEBOUNCE_MS);
  }

  async function searchCanned() {
    clearTimeout(state.cannedTimer);
    const q = $('canned-search').value.trim();
    const seq = ++state.cannedSeq;
    const language = conversationLanguage();
    state.cannedLanguage = language;
    if (!q) {
      $('canned-results').replaceChildren();
      setText($('canned-status'), '');
      return;
    }
    const params = new URLSearchParams({ q });
    if (language) params.set('language', language);
    setText($('canned-status'), 'Searching…');
    try {
      const data = await api('GET', `/canned?${params.toString()}`);
      if (seq !== state.cannedSeq) return;
      const replies = data && Array.isArray(data.replies) ? data.replies : [];
      $('canned-results').replaceChildren(...replies.map((r) => el('li', null,
        el('button', {
          type: 'button',
          className: 'canned-result',
          attrs: { 'data-testid': 'canned-result', 'data-reply-id': r.id, title: 'Insert into the composer' },
          on: { click: () => insertIntoComposer(String(r.text || '')) },
        },
        el('span', { className: 'canned-title' },
          el('span', { text: r.title || r.id || 'Reply' }),
          r.language ? el('span', { className: 'badge lang', text: String(r.language).toUpperCase() }) : null),
        el('span', { className: 'canned-text', text: r.text || '' })))));
      setText($('canned-status'), replies.length
        ? `${replies.length} ${replies.length === 1 ? 'reply' : 'replies'}: click one to insert it`
        : 'No canned replies found.');
    } catch (err) {
      if (seq !== state.cannedSeq) return;
      setText($('canned-status'), '');
      if (err.status !== 401) reportError(err, 'Canned replies');
    }
  }

  // ---------------------------------------------------------------- typing indicator

  function showTyping() {
    show($('typing-indicator'), true);
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(hideTyping, TYPING_SHOW_MS);
  }

  function hideTyping() {
    clearTimeout(state.typingTimer);
    show($('typing-indicator'), false);
  }

  // ---------------------------------------------------------------- live updates

  function setLiveStatus(status) {
    const node = $('live-status');
    node.dataset.state = status;
    setText(node, { live: 'Live', connecting: 'Connecting…', reconnecting: 'Reconnecting…' }[status] || status);
  }

  function connectLive() {
    state.wsWanted = true;
    clearTimeout(state.wsTimer);
    const protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let ws;
    try {
      ws = new WebSocket(`${protocol}//${location.host}${API}/live`);
    } catch (err) {
      scheduleReconnect();
      return;
    }
    state.ws = ws;
    setLiveStatus(state.wsEverOpened ? 'reconnecting' : 'connecting');
    ws.addEventListener('open', () => {
      if (state.ws !== ws) return;
      const reconnected = state.wsEverOpened;
      state.wsEverOpened = true;
      state.wsAttempt = 0;
      setLiveStatus('live');
      if (reconnected) {
        // Catch up with what happened while the socket was down (the server also sends `queue`).
        loadQueue();
        refreshConversation();
      }
    });
    ws.addEventListener('message', (event) => {
      if (state.ws !== ws) return;
      let data;
      try { data = JSON.parse(event.data); } catch (err) { return; }
      if (data && typeof data === 'object') handleLiveEvent(data);
    });
    ws.addEventListener('close', (event) => {
      if (state.ws !== ws) return;
      state.ws = null;
      if (!state.wsWanted) return;
      if (event.code === 4401) { sessionExpired(); return; }  // the server ended the session (logout elsewhere, new password)
      setLiveStatus('reconnecting');
      scheduleReconnect();
    });
  }

  function scheduleReconnect() {
    const attempt = state.wsAttempt++;
    const delay = Math.min(RECONNECT_MAX_MS, 1000 * 2 ** attempt) * (0.8 + Math.random() * 0.4);
    clearTimeout(state.wsTimer);
    state.wsTimer = setTimeout(async () => {
      if (!state.wsWanted) return;
      if (attempt >= 1) {
        // A socket that keeps failing may mean the session ended: ask before trying again.
        try {
          await api('GET', '/me');
        } catch (err) {
          if (err.status === 401) { sessionExpired(); return; }
        }
        if (!state.wsWanted) return;
      }
      connectLive();
    }, delay);
  }

  function handleLiveEvent(event) {
    switch (event.type) {
      case 'queue':
        setQueue(event.waiting, event.mine, event.undelivered);
        break;
      case 'message': {
        const m = event.message;
        if (!m) break;
        noteMessageInQueue(m);
        appendMessage(m);
        break;
      }
      case 'conversation': {
        const s = event.conversation;
        if (!s) break;
        applySummary(s);
        if (state.conv && s.id === state.conv.id) {
          const merged = Object.assign({}, state.conv, s, {
            messages: state.conv.messages, handoff: s.handoff || state.conv.handoff,
          });
          setConversation(merged, { fresh: false });
        }
        break;
      }
      case 'typing':
        if (event.conversation_id === state.openId && (!event.who || event.who === 'customer')) showTyping();
        break;
      default:
        break;
    }
  }

  // ---------------------------------------------------------------- wiring

  function bindEvents() {
    $('login-form').addEventListener('submit', onLogin);
    $('logout').addEventListener('click', onLogout);
    $('agents-toggle').addEventListener('click', toggleAgentsPanel);
    $('agent-form').addEventListener('submit', onAddAgent);
    $('error-dismiss').addEventListener('click', hideError);
    $('queue-waiting').addEventListener('keydown', onQueueKeydown);
    $('queue-mine').addEventListener('keydown', onQueueKeydown);
    $('claim').addEventListener('click', onClaim);
    $('return-to-bot').addEventListener('click', onReturnToBot);
    $('close').addEventListener('click', () => ($('close-form').hidden ? showCloseForm() : hideCloseForm()));
    $('close-cancel').addEventListener('click', () => { hideCloseForm(); $('close').focus(); });
    $('close-form').addEventListener('submit', onCloseConfirm);
    $('close-form').addEventListener('keydown', (e) => {
      if (e.key === 'Escape') { e.preventDefault(); hideCloseForm(); $('close').focus(); }
    });
    $('close-resolution').addEventListener('input', () => $('close-resolution').removeAttribute('aria-invalid'));
    $('composer-form').addEventListener('submit', onSend);
    $('composer').addEventListener('keydown', onComposerKeydown);
    $('composer').addEventListener('input', onComposerInput);
    $('transcript').addEventListener('scroll', () => { state.stickToBottom = nearBottom($('transcript')); });
    if (typeof ResizeObserver === 'function') {
      // The close form, the typing indicator or a narrower window shrink the transcript: keep the
      // newest message in view when the agent was reading the bottom.
      new ResizeObserver(() => {
        const transcript = $('transcript');
        if (state.stickToBottom) transcript.scrollTop = transcript.scrollHeight;
      }).observe($('transcript'));
    }
    $('mode-reply').addEventListener('change', updateComposer);
    $('mode-note').addEventListener('change', updateComposer);
    $('suggested-reply-use').addEventListener('click', () => {
      const h = state.conv && state.conv.handoff;
      if (!h || !h.suggested_reply) return;
      setMode('reply');
      insertIntoComposer(h.suggested_reply, { replace: !$('composer').value.trim() });
    });
    $('canned-search').addEventListener('input', scheduleCannedSearch);
    $('canned-search').addEventListener('keydown', (e) => {
      if (e.key === 'Enter') { e.preventDefault(); searchCanned(); }
    });
    window.addEventListener('hashchange', () => {
      const match = /^#conversation-(\d+)$/.exec(location.hash);
      if (match && state.me && Number(match[1]) !== state.openId) openConversation(Number(match[1]));
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})();
