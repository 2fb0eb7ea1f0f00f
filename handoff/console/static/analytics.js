// The Analytics page, for admins: the figures of GET /console/api/analytics (docs/analytics.md), each with its
// denominator and its definition, for all requests or one language, and server-rendered SVG charts over days or
// weeks. Every figure element says where it comes from (data-block, data-figure), so a test can compare them.
'use strict';

(() => {
  const R = window.ConsoleReports;
  const { $, el } = R;
  const CONTROLS = ['since', 'until', 'by', 'language'];
  const OUTCOME_LABELS = { contained: 'Contained', didnt_help: "Didn't help", no_answer: 'No answer', handed_off: 'Handed off' };
  const DURABILITY_LABELS = { durable: 'Durable', came_back: 'Came back within 7 days', assumed: 'Assumed (fewer than 7 days yet)' };
  const state = { controls: R.queryOf(CONTROLS), data: null, seq: 0 };

  function blockName() {
    return state.controls.language && state.data && state.data.languages[state.controls.language] ? state.controls.language : 'all';
  }

  function blockOf(name) {
    return name === 'all' ? state.data.all : state.data.languages[name];
  }

  function table(caption, headings, rows, footer) {
    return el('table', { className: 'report-table' },
      el('caption', { text: caption }),
      el('thead', null, el('tr', null, ...headings.map((h) => el('th', { text: h, attrs: { scope: 'col' } })))),
      el('tbody', null, ...rows),
      footer ? el('tfoot', null, footer) : null);
  }

  function partitionTable(block, path, caption, labels) {
    const data = path.split('/').reduce((value, key) => value[key], blockOf(block));
    const rows = data.rows.map((r) => el('tr', { attrs: { 'data-key': r.key } },
      el('th', { text: labels ? R.label(labels, r.key) : r.key, attrs: { scope: 'row' } }),
      R.figure('td', block, `${path}/${r.key}/count`, 'count', r.count),
      R.figure('td', block, `${path}/${r.key}/percent`, 'percent', r.percent)));
    const footer = el('tr', null, el('th', { text: 'All', attrs: { scope: 'row' } }),
      R.figure('td', block, `${path}/of`, 'count', data.of),
      el('td', { text: data.of ? '100.0 %' : '–', attrs: { 'data-kind': 'percent' } }));
    return table(caption, ['', 'Count', `Share of the ${data.denominator}`], rows, footer);
  }

  function renderOutcomes(block) {
    const b = blockOf(block);
    $('containment').replaceChildren(
      R.figure('strong', block, 'containment/percent', 'percent', b.containment.percent, { className: 'big-figure' }),
      ' contained: ', R.figure('span', block, 'containment/count', 'count', b.containment.count),
      ' of ', R.figure('span', block, 'containment/of', 'count', b.containment.of), ` ${b.containment.denominator}`);
    $('outcomes').replaceChildren(partitionTable(block, 'outcomes', 'Outcomes (they sum to 100 %)', OUTCOME_LABELS));
  }

  function renderWaits(block) {
    const b = blockOf(block);
    const line = (key, title, missingKey, missingTitle) => el('tr', { attrs: { 'data-key': key } },
      el('th', { text: title, attrs: { scope: 'row' } }),
      R.figure('td', block, `${key}/p50_seconds`, 'seconds', b[key].p50_seconds),
      R.figure('td', block, `${key}/p90_seconds`, 'seconds', b[key].p90_seconds),
      R.figure('td', block, `${key}/measured`, 'count', b[key].measured),
      el('td', null, R.figure('span', block, `${key}/${missingKey}`, 'count', b[key][missingKey]), ` ${missingTitle}`));
    $('waits').replaceChildren(table(`Over the ${b.queue_wait.denominator}`, ['', 'p50', 'p90', 'Measured', 'Not measured'], [
      line('queue_wait', 'Queue wait', 'not_claimed', 'not claimed'),
      line('first_agent_reply', 'First agent reply', 'no_reply', 'without a reply'),
    ]));
  }

  function renderCsat(block) {
    const c = blockOf(block).csat;
    const line = (key, title, satisfied) => el('tr', { attrs: { 'data-key': key } },
      el('th', { text: title, attrs: { scope: 'row' } }),
      R.figure('td', block, `csat/${key}/percent`, 'percent', c[key].percent),
      el('td', null, R.figure('span', block, `csat/${key}/satisfied`, 'count', c[key].satisfied), ` ${satisfied}`),
      el('td', null, R.figure('span', block, `csat/${key}/responses`, 'count', c[key].responses), ` ${c[key].denominator}`),
      key === 'handed_off' ? R.figure('td', block, 'csat/handed_off/average', 'number', c[key].average) : el('td', { text: '' }));
    $('csat').replaceChildren(table('Satisfied customers', ['', 'Satisfied', 'Of them', 'Responses', 'Average rating'], [
      line('bot_only', 'Bot only', 'marked helpful'),
      line('handed_off', 'Handed off', 'rated 4 or 5'),
    ]));
  }

  function renderEntries(block) {
    const e = blockOf(block).entries;
    const used = e.most_used.map((entry, i) => el('tr', null,
      R.figure('th', block, `entries/most_used/${i}/faq_id`, 'text', entry.faq_id, { attrs: { scope: 'row' } }),
      R.figure('td', block, `entries/most_used/${i}/answers`, 'count', entry.answers),
      R.figure('td', block, `entries/most_used/${i}/helpful`, 'count', entry.helpful),
      R.figure('td', block, `entries/most_used/${i}/not_helpful`, 'count', entry.not_helpful)));
    const least = e.least_helpful.map((entry, i) => el('tr', null,
      R.figure('th', block, `entries/least_helpful/${i}/faq_id`, 'text', entry.faq_id, { attrs: { scope: 'row' } }),
      R.figure('td', block, `entries/least_helpful/${i}/not_helpful_percent`, 'percent', entry.not_helpful_percent),
      R.figure('td', block, `entries/least_helpful/${i}/not_helpful`, 'count', entry.not_helpful),
      R.figure('td', block, `entries/least_helpful/${i}/helpful`, 'count', entry.helpful)));
    $('most-used').replaceChildren(table('Most used', ['Entry', 'Answers', 'Helpful', "Didn't help"], used));
    $('least-helpful').replaceChildren(table('Least helpful', ['Entry', "Didn't help, of the verdicts", "Didn't help", 'Helpful'], least));
  }

  function renderLanguages() {
    const blocks = ['all', ...Object.keys(state.data.languages)];
    const rows = [
      ['Requests', 'requests', 'count'],
      ['Contained', 'outcomes/contained/percent', 'percent'],
      ["Didn't help", 'outcomes/didnt_help/percent', 'percent'],
      ['No answer', 'outcomes/no_answer/percent', 'percent'],
      ['Handed off', 'outcomes/handed_off/percent', 'percent'],
      ['Durable, of the contained', 'resolution/bot/durable/percent', 'percent'],
      ['Assumed, of the contained', 'resolution/bot/assumed/percent', 'percent'],
      ['Queue wait p50', 'queue_wait/p50_seconds', 'seconds'],
      ['Queue wait p90', 'queue_wait/p90_seconds', 'seconds'],
      ['First agent reply p50', 'first_agent_reply/p50_seconds', 'seconds'],
      ['First agent reply p90', 'first_agent_reply/p90_seconds', 'seconds'],
      ['Satisfied, bot only', 'csat/bot_only/percent', 'percent'],
      ['Satisfied, handed off', 'csat/handed_off/percent', 'percent'],
    ].map(([title, path, kind]) => el('tr', null, el('th', { text: title, attrs: { scope: 'row' } }),
      ...blocks.map((block) => R.figure('td', block, path, kind, valueAt(blockOf(block), path)))));
    $('per-language').replaceChildren(table('All requests and each language',
      ['', ...blocks.map((b) => (b === 'all' ? 'All' : R.label(R.LANGUAGES, b)))], rows));
  }

  // "outcomes/contained/percent": keys, list indexes, or the key of a partition's row
  function valueAt(data, path) {
    return path.split('/').reduce((value, key) => {
      if (value === null || value === undefined) return null;
      if (Array.isArray(value)) return value[Number(key)];
      if (key in value) return value[key];
      return Array.isArray(value.rows) ? value.rows.find((r) => r.key === key) : undefined;
    }, data);
  }

  function chartQuery(block) {
    return R.queryString({ since: state.data.since, until: state.data.until, by: state.data.by, language: block === 'all' ? '' : block });
  }

  function render() {
    const data = state.data;
    const block = blockName();
    for (const node of document.querySelectorAll('[data-definition]')) R.setText(node, data.definitions[node.dataset.definition]);
    $('control-since').value = data.since;
    $('control-until').value = data.until;
    $('control-by').value = data.by;
    R.fillSelect($('control-language'), Object.keys(data.languages), R.LANGUAGES, block === 'all' ? '' : block, 'All languages');
    R.setText($('period-line'), `${blockOf(block).requests} requests began from ${data.since} to ${data.until} (days in `
      + `${data.time_zone}), ${block === 'all' ? 'in every language' : `in ${R.label(R.LANGUAGES, block)}`}; figures as of ${data.as_of}.`);
    renderOutcomes(block);
    $('resolution-bot').replaceChildren(partitionTable(block, 'resolution/bot', 'Resolved by the bot alone', DURABILITY_LABELS));
    $('resolution-agent').replaceChildren(partitionTable(block, 'resolution/agent', 'Closed by an agent', DURABILITY_LABELS));
    $('handoff-reasons').replaceChildren(partitionTable(block, 'handoff_reasons', 'By reason (they sum to 100 %)', R.REASONS));
    renderWaits(block);
    renderCsat(block);
    renderEntries(block);
    renderLanguages();
    const per = data.by === 'week' ? 'week' : 'day';
    $('chart-outcomes').src = `/console/api/analytics/charts/outcomes.svg${chartQuery(block)}`;
    $('chart-outcomes').alt = `Requests per ${per} by outcome (the figures are in the table above)`;
    $('chart-waits').src = `/console/api/analytics/charts/waits.svg${chartQuery(block)}`;
    $('chart-waits').alt = `Queue wait and first agent reply per ${per}, p50 and p90 (the figures are in the table above)`;
    document.body.dataset.block = block;
  }

  async function load() {
    const seq = ++state.seq;
    const query = R.queryString({ since: state.controls.since, until: state.controls.until, by: state.controls.by });
    history.replaceState(null, '', location.pathname + R.queryString(state.controls));
    let data;
    try {
      data = await R.api(`/analytics${query}`);
    } catch (err) {
      if (seq === state.seq) R.showError(err.message);
      return;
    }
    if (seq !== state.seq) return;
    R.showError('');
    state.data = data;
    render();
    document.body.dataset.loaded = String(seq);
  }

  async function boot() {
    const agent = await R.signedIn();
    if (!agent) return;
    if (agent.role !== 'admin') {
      $('not-admin').hidden = false;
      return;
    }
    $('report').hidden = false;
    $('controls').addEventListener('submit', (event) => {
      event.preventDefault();
      state.controls = {
        since: $('control-since').value, until: $('control-until').value, by: $('control-by').value,
        language: $('control-language').value,
      };
      load();
    });
    $('control-language').addEventListener('change', () => {
      state.controls.language = $('control-language').value;
      if (state.data) {
        history.replaceState(null, '', location.pathname + R.queryString(state.controls));
        render();
      }
    });
    load();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})();
