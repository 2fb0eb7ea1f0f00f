// What the Requests and Analytics pages share: the JSON API, text-only DOM building, the signed-in agent and
// the formats of counts, percentages and durations (docs/analytics.md).
//
// SECURITY: every text from the server is rendered with textContent / text nodes; nothing here assigns
// innerHTML or builds HTML from strings.
'use strict';

window.ConsoleReports = (() => {
  const API = '/console/api';

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(path) {
    let response;
    try {
      response = await fetch(API + path, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
    } catch (err) {
      throw new ApiError(0, 'Cannot reach the server. Check the connection and try again.');
    }
    let data = null;
    try { data = await response.json(); } catch (err) { data = null; }
    if (!response.ok) {
      const message = data && typeof data.error === 'string' ? data.error : `${response.status} ${response.statusText}`;
      throw new ApiError(response.status, message);
    }
    return data;
  }

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'text') node.textContent = String(value);
      else if (key === 'className') node.className = value;
      else if (key === 'attrs') {
        for (const [name, v] of Object.entries(value)) {
          if (v !== undefined && v !== null && v !== false) node.setAttribute(name, v === true ? '' : String(v));
        }
      } else node[key] = value;
    }
    for (const child of children) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const $ = (id) => document.getElementById(id);

  function setText(node, text) {
    node.textContent = text === undefined || text === null ? '' : String(text);
  }

  const DASH = '–';

  function formatCount(value) {
    return value === null || value === undefined ? DASH : String(value);
  }

  function formatPercent(value) {
    return value === null || value === undefined ? DASH : `${Number(value).toFixed(1)} %`;
  }

  // 45 s, 2 min, 2 min 5 s, 1 h, 1 h 5 min (whole seconds; the tests format them the same way)
  function formatSeconds(value) {
    if (value === null || value === undefined) return DASH;
    const s = Math.round(Number(value));
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min` + (s % 60 ? ` ${s % 60} s` : '');
    const minutes = Math.floor((s % 3600) / 60);
    return `${Math.floor(s / 3600)} h` + (minutes ? ` ${minutes} min` : '');
  }

  function formatNumber(value) {
    return value === null || value === undefined ? DASH : String(value);
  }

  const FORMATS = { count: formatCount, percent: formatPercent, seconds: formatSeconds, number: formatNumber, text: formatNumber };

  // A figure on the page: its text, and where it comes from in the API's answer (data-block, data-figure).
  function figure(tag, block, path, kind, value, extra) {
    return el(tag, {
      ...(extra || {}),
      text: FORMATS[kind](value),
      attrs: { 'data-block': block, 'data-figure': path, 'data-kind': kind, ...((extra && extra.attrs) || {}) },
    });
  }

  const LANGUAGES = { et: 'Estonian', ru: 'Russian', en: 'English', unknown: 'Unknown' };
  const REASON = window.PROTOCOL.reasons;  // from /console/protocol.js
  const REASONS = {
    [REASON.OUT_OF_SCOPE]: 'Out of scope', [REASON.LOW_CONFIDENCE]: 'Low confidence',
    [REASON.HUMAN_REQUEST]: 'Asked for a human', [REASON.UPSET]: 'Upset', [REASON.RUDE]: 'Rude',
    [REASON.REPEATED_FAILURE]: 'Repeated failure', [REASON.TOPIC_POLICY]: 'Policy topic',
    [REASON.BOT_UNAVAILABLE]: 'Bot failed', none: 'No handoff',
  };
  const STATES = {
    contained: 'Contained', didnt_help: "Didn't help", no_answer: 'No answer', waiting: 'Waiting',
    agent: 'With an agent', closed: 'Closed', returned: 'Returned to the bot',
  };
  const PATHS = { bot_only: 'Bot only', handed_off: 'Handed off', agent: 'Agent' };

  function label(table, code) {
    if (code === null || code === undefined || code === '') return '';
    return table[code] || String(code).replace(/_/g, ' ');
  }

  // The signed-in agent, or null (the page then offers the console's sign-in); shows the Analytics link to admins.
  async function signedIn() {
    try {
      const data = await api('/me');
      setText($('agent-name'), data.agent.display_name || data.agent.username);
      $('nav-analytics').hidden = data.agent.role !== 'admin';
      return data.agent;
    } catch (err) {
      if (err.status !== 401) showError(err.message);
      $('signed-out').hidden = false;
      return null;
    }
  }

  function showError(message) {
    setText($('error-text'), message);
    $('error-banner').hidden = !message;
  }

  // The page's query string as an object, and back.
  function queryOf(names) {
    const params = new URLSearchParams(location.search);
    const out = {};
    for (const name of names) out[name] = params.get(name) || '';
    return out;
  }

  function queryString(values) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(values)) if (value !== '' && value !== null && value !== undefined) params.set(name, value);
    const text = params.toString();
    return text ? `?${text}` : '';
  }

  function fillSelect(select, values, table, current, anyLabel) {
    const options = [el('option', { value: '', text: anyLabel })];
    const all = current && !values.includes(current) ? [...values, current] : values;
    for (const value of all) options.push(el('option', { value, text: label(table || {}, value) || value }));
    select.replaceChildren(...options);
    select.value = current || '';
  }

  return {
    api, el, $, setText, figure, label, signedIn, showError, queryOf, queryString, fillSelect,
    formatCount, formatPercent, formatSeconds, LANGUAGES, REASONS, STATES, PATHS,
  };
})();
