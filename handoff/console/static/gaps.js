// The Gaps page: what customers asked that the bot could not answer well, from GET /console/api/gaps.
//
// SECURITY: every text from the server (customers' questions, entry titles, error messages) is rendered with
// textContent. This file never assigns innerHTML and never builds HTML from strings.
'use strict';

(() => {
  const API = '/console/api';
  const LANGUAGES = { et: 'Estonian', ru: 'Russian', en: 'English' };
  const REASON = window.PROTOCOL.reasons;  // from /console/protocol.js
  const REASONS = {
    [REASON.OUT_OF_SCOPE]: 'out of scope',
    [REASON.LOW_CONFIDENCE]: 'low confidence',
    [REASON.REPEATED_FAILURE]: 'repeated failure',
    clarification_not_picked: 'clarification not picked',
    unhelpful_answer: 'answer marked unhelpful',
  };

  const $ = (id) => document.getElementById(id);

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  async function getJson(path) {
    const response = await fetch(API + path, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
    let data = null;
    try { data = await response.json(); } catch (err) { data = null; }
    if (!response.ok) {
      const error = new Error(data && typeof data.error === 'string' ? data.error : `${response.status} error`);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function days() {
    const value = Number($('gaps-days').value);
    return Number.isInteger(value) && value >= 1 && value <= 3650 ? value : 30;
  }

  async function copy(text, button) {
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = 'Copied';
    } catch (err) {  // no clipboard (not a secure context): select the command for Ctrl-C
      const code = button.previousElementSibling;
      const range = document.createRange();
      range.selectNodeContents(code);
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
      button.textContent = 'Selected: press Ctrl-C';
    }
  }

  function renderGroup(group) {
    const item = element('li', 'gap-group');
    item.dataset.testid = 'gap-group';
    item.dataset.group = String(group.group);

    const head = element('div', 'gap-head');
    head.append(element('span', 'gap-number', `#${group.group}`));
    const count = element('span', 'gap-count', `${group.count} question${group.count === 1 ? '' : 's'}`);
    count.dataset.testid = 'gap-count';
    head.append(count);
    for (const language of group.languages) {
      const badge = element('span', 'badge lang', language);
      badge.title = LANGUAGES[language] || language;
      badge.dataset.testid = 'gap-language';
      head.append(badge);
    }
    const reasons = Object.entries(group.reasons).map(([reason, n]) => `${REASONS[reason] || reason} ${n}`);
    head.append(element('span', 'muted small gap-reasons', reasons.join(' · ')));
    item.append(head);

    const examples = element('ul', 'gap-examples');
    for (const text of group.examples) {
      const example = element('li', 'gap-example', text);
      example.dataset.testid = 'gap-example';
      examples.append(example);
    }
    item.append(examples);

    const considered = element('p', 'gap-considered small');
    if (group.considered.length) {
      considered.append(element('span', 'muted', 'The bot considered: '));
      group.considered.forEach((entry, index) => {
        if (index) considered.append(document.createTextNode('; '));
        considered.append(element('code', 'faq-id', entry.id));
        const title = entry.title ? ` “${entry.title}”` : '';
        considered.append(document.createTextNode(`${title} ×${entry.count}`));
      });
    } else {
      considered.append(element('span', 'muted', 'No entry came near: this needs a new one.'));
    }
    item.append(considered);

    const hint = element('div', 'gap-hint');
    hint.append(element('span', 'muted small', 'Then add it to the golden questions:'));
    const command = element('code', 'gap-command', group.golden_add);
    command.dataset.testid = 'golden-hint';
    const button = element('button', 'gap-copy', 'Copy');
    button.type = 'button';
    button.addEventListener('click', () => copy(group.golden_add, button));
    hint.append(command, button);
    item.append(hint);
    return item;
  }

  async function show() {
    const wanted = days();
    $('gaps-csv').href = `${API}/gaps?days=${wanted}&format=csv`;
    $('gaps-status').textContent = 'Grouping the questions…';
    let report;
    try {
      report = await getJson(`/gaps?days=${wanted}`);
    } catch (err) {
      if (err.status === 401) return signedOut();
      $('gaps-status').textContent = `Could not make the report: ${err.message}`;
      return;
    }
    const groups = report.groups.map(renderGroup);
    $('gaps-groups').replaceChildren(...groups);
    const range = `${report.since.slice(0, 10)} to ${report.until.slice(0, 10)}`;
    $('gaps-status').textContent = report.groups.length
      ? `${report.cases} questions in ${report.groups.length} groups, ${range}.`
      : `Nothing to do: no question went unanswered from ${range}.`;
  }

  function signedOut() {
    $('gaps-view').hidden = true;
    $('whoami').hidden = true;
    $('gaps-login').hidden = false;
  }

  async function start() {
    $('gaps-form').addEventListener('submit', (event) => {
      event.preventDefault();
      show();
    });
    let me;
    try {
      me = await getJson('/me');
    } catch (err) {
      if (err.status === 401) {
        signedOut();
      } else {
        $('gaps-view').hidden = false;
        $('gaps-status').textContent = `Cannot reach the server: ${err.message}`;
      }
      return;
    }
    $('agent-name').textContent = me.agent.display_name;
    $('whoami').hidden = false;
    $('gaps-view').hidden = false;
    await show();
  }

  start();
})();
