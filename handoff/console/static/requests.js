// The Requests page: the service-desk log, one row per request, filtered and searched on the server
// (GET /console/api/requests), exported as CSV with the same filters (GET /console/api/requests.csv).
// Texts are rendered with textContent only (reports-common.js).
'use strict';

(() => {
  const R = window.ConsoleReports;
  const { $, el } = R;
  const FILTERS = ['since', 'until', 'channel', 'language', 'reason', 'agent', 'state', 'q'];
  const LIMIT = 50;
  const state = {
    filters: R.queryOf(FILTERS),
    offset: Math.max(0, Number(new URLSearchParams(location.search).get('offset')) || 0),
    seq: 0,
    total: 0,
  };

  function startedText(iso, zone) {
    const moment = new Date(iso);
    if (!iso || Number.isNaN(moment.getTime())) return '';
    try {
      return new Intl.DateTimeFormat('sv-SE', {
        timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
      }).format(moment);
    } catch (err) {
      return moment.toISOString().slice(0, 16).replace('T', ' ');
    }
  }

  function cell(column, value, text) {
    return el('td', { text, attrs: { 'data-column': column, 'data-value': value === null || value === undefined ? '' : value } });
  }

  function row(r, zone) {
    return el('tr', { attrs: { 'data-testid': 'requests-row', 'data-request-id': r.id } },
      cell('started_at', r.started_at, startedText(r.started_at, zone)),
      cell('channel', r.channel, r.channel),
      cell('language', r.language, r.language || ''),
      cell('path', r.path, R.label(R.PATHS, r.path)),
      cell('reason', r.reason, R.label(R.REASONS, r.reason)),
      cell('agent', r.agent, r.agent || ''),
      cell('queue_seconds', r.queue_seconds, r.queue_seconds === null ? '' : R.formatSeconds(r.queue_seconds)),
      cell('first_agent_reply_seconds', r.first_agent_reply_seconds,
        r.first_agent_reply_seconds === null ? '' : R.formatSeconds(r.first_agent_reply_seconds)),
      cell('state', r.state, R.label(R.STATES, r.state)),
      cell('rating', r.rating, r.rating === null ? '' : `${r.rating}/5`),
      cell('messages', r.messages, String(r.messages)),
      el('td', { className: 'snippet', text: r.snippet, attrs: { 'data-column': 'snippet' } }),
      el('td', null, el('a', {
        href: `/console/#conversation-${encodeURIComponent(r.conversation_id)}`, text: 'Open transcript',
        attrs: { 'data-testid': 'open-transcript' },
      })));
  }

  function render(data) {
    const options = data.options || {};
    R.fillSelect($('filter-channel'), options.channels || [], null, state.filters.channel, 'Any channel');
    R.fillSelect($('filter-language'), options.languages || [], R.LANGUAGES, state.filters.language, 'Any language');
    R.fillSelect($('filter-reason'), [...(options.reasons || []), 'none'], R.REASONS, state.filters.reason, 'Any reason');
    R.fillSelect($('filter-agent'), options.agents || [], null, state.filters.agent, 'Any agent');
    R.fillSelect($('filter-state'), options.states || [], R.STATES, state.filters.state, 'Any state');
    $('filter-since').value = state.filters.since;
    $('filter-until').value = state.filters.until || data.until || '';
    $('filter-q').value = state.filters.q;

    state.total = data.total;
    R.setText($('requests-total'), data.total);
    R.setText($('requests-in-period'), data.in_period);
    R.setText($('requests-period'), data.since ? `, ${data.since} to ${data.until}` : `, up to ${data.until}`);
    $('requests-rows').replaceChildren(...data.requests.map((r) => row(r, data.time_zone)));
    $('requests-empty').hidden = data.requests.length > 0;
    const first = data.requests.length ? data.offset + 1 : 0;
    R.setText($('page-range'), `${first}–${data.offset + data.requests.length} of ${data.total}`);
    $('pager-prev').disabled = data.offset === 0;
    $('pager-next').disabled = data.offset + data.requests.length >= data.total;
  }

  async function load() {
    const seq = ++state.seq;
    history.replaceState(null, '', location.pathname + R.queryString({ ...state.filters, offset: state.offset || '' }));
    $('export-csv').href = `/console/api/requests.csv${R.queryString(state.filters)}`;
    let data;
    try {
      data = await R.api(`/requests${R.queryString({ ...state.filters, offset: state.offset || '', limit: LIMIT })}`);
    } catch (err) {
      if (seq === state.seq) R.showError(err.message);
      return;
    }
    if (seq !== state.seq) return;
    R.showError('');
    render(data);
    document.body.dataset.loaded = String(seq);
  }

  function apply(event) {
    event.preventDefault();
    for (const name of FILTERS) state.filters[name] = $(`filter-${name}`).value.trim();
    state.offset = 0;
    load();
  }

  async function boot() {
    if (!(await R.signedIn())) return;
    $('report').hidden = false;
    $('filters').addEventListener('submit', apply);
    $('filter-reset').addEventListener('click', () => {
      for (const name of FILTERS) state.filters[name] = '';
      state.offset = 0;
      load();
    });
    $('pager-prev').addEventListener('click', () => { state.offset = Math.max(0, state.offset - LIMIT); load(); });
    $('pager-next').addEventListener('click', () => {
      if (state.offset + LIMIT < state.total) { state.offset += LIMIT; load(); }
    });
    load();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})();
