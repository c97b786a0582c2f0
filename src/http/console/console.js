// Portico's web console: a client of the REST API under /api/rest_j/v1, with the browser's
// session cookie. No framework and nothing loaded from elsewhere. Job code, logs and results
// are whatever users wrote, so server data only ever reaches the page as text (textContent,
// text nodes, property values), never as markup.
'use strict';

// Errors the page did not expect, kept where a person (or the browser test) can read them.
window.porticoErrors = [];
function noteError(text) {
  window.porticoErrors.push(String(text));
}
window.addEventListener('error', (event) => {
  const source = event.target && event.target !== window ? event.target.src || event.target.href : '';
  noteError(source ? 'could not load ' + source : event.message + ' (' + event.filename + ':' + event.lineno + ')');
}, true);
window.addEventListener('unhandledrejection', (event) => {
  const reason = event.reason;
  noteError('unhandled rejection: ' + (reason && reason.stack ? reason.stack : reason));
});
document.addEventListener('securitypolicyviolation', (event) => {
  noteError('blocked by the content security policy: ' + event.violatedDirective + ' ' + event.blockedURI);
});
const consoleError = console.error.bind(console);
console.error = (...args) => {
  noteError(args.join(' '));
  consoleError(...args);
};

const API = '/api/rest_j/v1/';
const STATES = ['Inited', 'WaitForRetry', 'Scheduled', 'Running', 'Succeed', 'Failed', 'Cancelled', 'Timeout'];
const TERMINAL = ['Succeed', 'Failed', 'Cancelled', 'Timeout'];
const RUN_TYPES = {
  shell: ['shell', 'sh'],
  python: ['python', 'py', 'py3', 'python3'],
  sqlite: ['sql'],
  spark: ['sql', 'hql', 'spark-sql', 'py', 'python', 'pyspark', 'scala'],
  jdbc: ['jdbc', 'sql'],
};
const LIST_REFRESH_MS = 2000;
const JOB_REFRESH_MS = 1000;
const LOG_PAGE_LINES = 1000;
const LOG_MAX_LINES = 50000;
const RESULT_PAGE_ROWS = 50;

const $ = (id) => document.getElementById(id);

// What the page knows: who is logged in, and which view is current. `view` is a generation
// number: every poll loop stops as soon as another view has been opened.
const state = { user: null, admin: false, view: 0, listPage: 1 };

// ---------------------------------------------------------------------------------------------
// The API

class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

// Calls the API; resolves to the envelope's `data`, rejects with the envelope's `message`.
async function api(path, options = {}) {
  const init = { method: options.method || 'GET', credentials: 'same-origin', headers: {} };
  if (options.body !== undefined) {
    init.body = JSON.stringify(options.body);
    init.headers['Content-Type'] = 'application/json';
  }
  let response;
  try {
    response = await fetch(API + path, init);
  } catch (e) {
    throw new ApiError('The server cannot be reached: ' + e.message, null);
  }
  let envelope = null;
  try {
    envelope = await response.json();
  } catch (e) {
    throw new ApiError('The server answered HTTP ' + response.status + ' without a Linkis envelope', null);
  }
  if (envelope.status !== 0) {
    const message = envelope.message || 'HTTP ' + response.status;
    // A session that ended while the page was in use (expired, or logged out elsewhere).
    if (envelope.status === -1 && state.user) {
      loggedOut(message);
    }
    throw new ApiError(message, envelope.status);
  }
  return envelope.data || {};
}

function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== '' && value !== null && value !== undefined) {
      search.set(name, String(value));
    }
  }
  return search.toString();
}

// ---------------------------------------------------------------------------------------------
// Small helpers for building the page from text

// An element with attributes and children; strings become text nodes, never markup.
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === 'text') {
      node.textContent = value;
    } else {
      node.setAttribute(name, value);
    }
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function showError(message) {
  $('error-text').textContent = message;
  $('error').hidden = false;
}

function clearError() {
  $('error').hidden = true;
  $('error-text').textContent = '';
}

// Runs an action; an error from it is shown to the user instead of escaping.
async function attempt(action) {
  try {
    return await action();
  } catch (e) {
    showError(e instanceof ApiError ? e.message : 'Unexpected error: ' + e);
    if (!(e instanceof ApiError)) {
      noteError(e && e.stack ? e.stack : e);
    }
    return undefined;
  }
}

const pad = (n) => String(n).padStart(2, '0');

function formatTime(ms) {
  if (typeof ms !== 'number' || ms <= 0) {
    return '';
  }
  const d = new Date(ms);
  return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
    pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
}

function formatDuration(ms) {
  if (typeof ms !== 'number' || ms < 0) {
    return '';
  }
  if (ms < 1000) {
    return ms + ' ms';
  }
  const seconds = ms / 1000;
  if (seconds < 60) {
    return seconds.toFixed(1) + ' s';
  }
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) {
    return minutes + ' min ' + Math.floor(seconds % 60) + ' s';
  }
  return Math.floor(minutes / 60) + ' h ' + (minutes % 60) + ' min';
}

function formatBytes(bytes) {
  if (typeof bytes !== 'number') {
    return '';
  }
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return (unit === 0 ? value : value.toFixed(1)) + ' ' + units[unit];
}

function formatProgress(value) {
  const n = Number(value);
  return Number.isFinite(n) ? Math.round(n * 100) + '%' : '';
}

// A status badge; the class comes from the fixed list of states, never from the server's text.
function statusBadge(status) {
  const badge = el('span', { class: 'status', text: status });
  if (STATES.includes(status)) {
    badge.classList.add('status-' + status);
  }
  return badge;
}

function setFacts(list, facts) {
  list.replaceChildren();
  for (const [name, value] of facts) {
    if (value !== '' && value !== null && value !== undefined) {
      list.append(el('dt', { text: name }), el('dd', { text: String(value) }));
    }
  }
}

// Resolves after `ms`, for the poll loops (each waits for its previous round to finish), or
// sooner when `wake` is called (after a kill, pause or resume, so the page shows its outcome).
let wake = () => {};
const pause = (ms) => new Promise((resolve) => {
  const timer = setTimeout(resolve, ms);
  wake = () => {
    clearTimeout(timer);
    resolve();
  };
});

// ---------------------------------------------------------------------------------------------
// Views and navigation

function showView(id) {
  state.view += 1;
  for (const view of document.querySelectorAll('main > section')) {
    view.hidden = view.id !== id;
  }
  return state.view;
}

function route() {
  if (!state.user) {
    showLogin();
    return;
  }
  const hash = window.location.hash;
  const job = /^#\/job\/(\d+)$/.exec(hash);
  if (job) {
    openJob(Number(job[1]));
  } else if (hash === '#/submit') {
    showView('submit-view');
  } else {
    showJobs();
  }
}

function loggedIn(user) {
  state.user = user.userName;
  state.admin = user.isAdmin === true;
  $('who-name').textContent = state.user + (state.admin ? ' (admin)' : '');
  $('who').hidden = false;
  $('nav').hidden = false;
  $('filter-all-label').hidden = !state.admin;
}

function loggedOut(message) {
  state.user = null;
  state.admin = false;
  $('who').hidden = true;
  $('nav').hidden = true;
  showLogin();
  if (message) {
    showError(message);
  }
}

function showLogin() {
  showView('login-view');
  $('login-user').focus();
}

async function login(event) {
  event.preventDefault();
  clearError();
  await attempt(async () => {
    const user = await api('user/login', {
      method: 'POST',
      body: { userName: $('login-user').value, password: $('login-password').value },
    });
    $('login-password').value = '';
    loggedIn(user);
    if (!window.location.hash || window.location.hash === '#/') {
      window.location.hash = '#/jobs';
    }
    route();
  });
}

async function logout() {
  clearError();
  await attempt(() => api('user/logout', { method: 'POST' }));
  loggedOut(null);
}

// ---------------------------------------------------------------------------------------------
// The job list: jobhistory/list with the filters, paged, refreshed while it is shown

// Epoch milliseconds of the local midnight starting `date` (YYYY-MM-DD), `days` later.
function dayStart(date, days) {
  const [y, m, d] = date.split('-').map(Number);
  return new Date(y, m - 1, d + days).getTime();
}

function listQuery() {
  const from = $('filter-from').value;
  const to = $('filter-to').value;
  return query({
    status: $('filter-status').value,
    executeApplicationName: $('filter-engine').value,
    creator: $('filter-creator').value.trim(),
    startDate: from ? dayStart(from, 0) : '',
    // The end of the chosen day, inclusive.
    endDate: to ? dayStart(to, 1) - 1 : '',
    isAdminView: state.admin && $('filter-all').checked ? 'true' : '',
    pageNow: state.listPage,
    pageSize: $('filter-size').value,
  });
}

function jobRow(task) {
  const id = String(Number(task.taskID));
  const link = el('a', { href: '#/job/' + id, text: id });
  const cells = [
    link,
    statusBadge(task.status),
    task.executeApplicationName,
    task.runType,
    task.executeUser,
    task.requestApplicationName,
    formatProgress(task.progress),
    formatTime(task.createdTime),
    formatDuration(task.costTime),
  ];
  const row = el('tr', { 'data-task': id });
  for (const cell of cells) {
    row.append(el('td', {}, cell === null || cell === undefined ? '' : cell));
  }
  return row;
}

async function loadJobs() {
  const data = await api('jobhistory/list?' + listQuery());
  const tasks = Array.isArray(data.tasks) ? data.tasks : [];
  const total = Number(data.totalPage) || 0;
  const size = Number($('filter-size').value);
  const pages = Math.max(1, Math.ceil(total / size));
  $('jobs-body').replaceChildren(...tasks.map(jobRow));
  $('jobs-empty').hidden = tasks.length > 0;
  $('jobs-page').textContent = 'Page ' + state.listPage + ' of ' + pages + ' (' + total + (total === 1 ? ' job)' : ' jobs)');
  $('jobs-prev').disabled = state.listPage <= 1;
  $('jobs-next').disabled = state.listPage >= pages;
}

async function showJobs() {
  const view = showView('jobs-view');
  while (view === state.view) {
    const ok = await attempt(async () => {
      await loadJobs();
      return true;
    });
    if (!ok) {
      return;
    }
    await pause(LIST_REFRESH_MS);
  }
}

function movePage(delta) {
  state.listPage = Math.max(1, state.listPage + delta);
  clearError();
  showJobs();
}

// ---------------------------------------------------------------------------------------------
// One job: status, progress and resources, its log as it grows, controls, and its results

function controlsFor(status, paused) {
  const ended = TERMINAL.includes(status);
  $('job-kill').disabled = ended;
  $('job-pause').disabled = ended || paused;
  $('job-resume').disabled = ended || !paused;
}

function showStatus(status) {
  $('job-status').replaceChildren(statusBadge(status.status));
  if (status.paused) {
    $('job-status').append(' ', el('span', { class: 'status status-paused', text: 'paused' }));
  }
  controlsFor(status.status, status.paused === true);
}

function showProgress(progress) {
  const value = Number(progress.progress);
  $('job-progress').value = Number.isFinite(value) ? value : 0;
  const info = Array.isArray(progress.progressInfo) && progress.progressInfo[0];
  const tasks = info ? ' (' + info.succeedTasks + ' of ' + info.totalTasks + ' done, ' +
    info.runningTasks + ' running, ' + info.failedTasks + ' failed)' : '';
  $('job-progress-text').textContent = formatProgress(value) + tasks;
  const resource = progress.resource || {};
  setFacts($('job-resource'), [
    ['CPU', typeof resource.cpuSeconds === 'number' ? resource.cpuSeconds.toFixed(2) + ' s' : ''],
    ['Memory', formatBytes(resource.memoryBytes)],
    ['Peak memory', formatBytes(resource.peakMemoryBytes)],
    ['Processes', resource.processes],
    ['Paused for', progress.pausedMillis ? formatDuration(progress.pausedMillis) : ''],
  ]);
}

function showRecord(task) {
  $('job-code').textContent = task.executionCode || '';
  setFacts($('job-facts'), [
    ['execID', task.strongerExecId],
    ['Engine', task.executeApplicationName + ' (' + task.runType + ')'],
    ['User', task.executeUser + (task.submitUser !== task.executeUser ? ', submitted by ' + task.submitUser : '')],
    ['Creator', task.requestApplicationName],
    ['Created', formatTime(task.createdTime)],
    ['Started', formatTime(task.engineStartTime)],
    ['Ended', formatTime(task.requestEndTime)],
    ['Duration', formatDuration(task.costTime)],
    ['Exit code', task.metrics ? task.metrics.exitCode : ''],
    ['Error', task.errCode ? task.errCode + ': ' + (task.errDesc || '') : ''],
  ]);
}

// Appends the log lines that have come since `job.fromLine`; false once nothing more came.
async function readLog(job) {
  const data = await api('entrance/' + job.id + '/log?' +
    query({ fromLine: job.fromLine, size: LOG_PAGE_LINES, distinctLevel: 'false' }));
  const next = Number(data.fromLine);
  if (!Number.isFinite(next) || next === job.fromLine) {
    return false;
  }
  job.fromLine = next;
  const text = typeof data.log === 'string' ? data.log : '';
  const pre = $('job-log');
  const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  job.lines += text.split('\n').length;
  pre.append(document.createTextNode(text + '\n'));
  if (atBottom) {
    pre.scrollTop = pre.scrollHeight;
  }
  if (job.lines >= LOG_MAX_LINES) {
    $('job-log-note').textContent = 'The console shows the first ' + job.lines +
      ' lines; read the rest with filesystem/openLog or the API.';
    $('job-log-note').hidden = false;
    job.readable = false;
    return false;
  }
  return true;
}

async function refreshJob(job) {
  const status = await api('entrance/' + job.id + '/status');
  showStatus(status);
  showProgress(await api('entrance/' + job.id + '/progressWithResource'));
  // A few pages a round, so that a long log catches up without holding up the status. A log
  // that cannot be read (its files removed by retention) is said once; the rest still works.
  try {
    for (let i = 0; i < 5 && job.readable && await readLog(job); i += 1) {
      // keep reading
    }
  } catch (e) {
    if (!(e instanceof ApiError)) {
      throw e;
    }
    job.readable = false;
    showError(e.message);
  }
  return status.status;
}

async function openJob(id) {
  const view = showView('job-view');
  const job = { id, fromLine: 0, lines: 0, readable: true };
  $('job-id').textContent = String(id);
  for (const target of ['job-status', 'job-progress-text', 'job-code', 'job-log', 'job-facts',
    'job-resource', 'job-result-sets', 'job-result', 'job-result-note']) {
    $(target).replaceChildren();
  }
  $('job-progress').value = 0;
  // Set once the ended job's final record and results are shown (the browser test waits on it).
  delete $('job-view').dataset.settled;
  $('job-log-note').hidden = true;
  $('result-pager').hidden = true;
  $('result-downloads').hidden = true;
  controlsFor('', false);
  const first = await attempt(async () => {
    showRecord((await api('jobhistory/' + id + '/get')).task || {});
    return true;
  });
  if (!first) {
    return;
  }
  while (view === state.view) {
    const status = await attempt(() => refreshJob(job));
    if (status === undefined || view !== state.view) {
      return;
    }
    if (TERMINAL.includes(status)) {
      // The log's last lines, the final record, then the results.
      while (job.readable && await attempt(() => readLog(job))) {
        // drain
      }
      const task = await attempt(async () => (await api('jobhistory/' + id + '/get')).task || {});
      if (task && view === state.view) {
        showRecord(task);
        await attempt(() => listResults(task, view));
        $('job-view').dataset.settled = 'true';
      }
      return;
    }
    await pause(JOB_REFRESH_MS);
  }
}

async function control(verb) {
  const id = Number($('job-id').textContent);
  clearError();
  await attempt(async () => {
    await api('entrance/' + id + '/' + verb, { method: 'POST' });
    wake();
  });
}

// ---------------------------------------------------------------------------------------------
// Results: the result directory's sets as tabs, a set's page as a table or as text

// The number in a result file's name (`_12.dolphin` → 12), for Linkis's order.
function resultNumber(name) {
  const n = parseInt(String(name).replace(/^_/, ''), 10);
  return Number.isFinite(n) ? n : Infinity;
}

async function listResults(task, view) {
  const note = $('job-result-note');
  const tree = (await api('filesystem/getDirFileTrees?' + query({ path: task.resultLocation }))).dirFileTrees;
  const sets = tree && Array.isArray(tree.children) ? tree.children.filter((c) => c.isLeaf) : [];
  sets.sort((a, b) => resultNumber(a.name) - resultNumber(b.name));
  if (view !== state.view) {
    return;
  }
  note.textContent = sets.length === 0 ? 'This job has no result sets.' : '';
  const tabs = sets.map((set, index) => {
    const tab = el('button', { type: 'button', class: 'tab', 'data-index': String(index), text: 'Result ' + (index + 1) });
    tab.title = set.name;
    tab.addEventListener('click', () => attempt(() => openResult(set.path, 1, tab)));
    return tab;
  });
  $('job-result-sets').replaceChildren(...tabs);
  $('result-downloads').hidden = tabs.length === 0;
  if (tabs.length > 0) {
    await openResult(sets[0].path, 1, tabs[0]);
  }
}

async function openResult(path, page, tab) {
  const data = await api('filesystem/openFile?' + query({ path, page, pageSize: RESULT_PAGE_ROWS }));
  for (const other of document.querySelectorAll('#job-result-sets .tab')) {
    other.classList.toggle('selected', other === tab);
  }
  const rows = Array.isArray(data.fileContent) ? data.fileContent : [];
  const result = $('job-result');
  // Downloads are plain links to the API: the browser sends the session cookie with them.
  const name = 'task' + $('job-id').textContent + '_result' + (Number(tab.dataset.index) + 1);
  const download = (type) => API + 'filesystem/resultsetToExcel?' + query({ path, outputFileType: type, outputFileName: name });
  $('result-csv').href = download('csv');
  $('result-xlsx').href = download('xlsx');
  $('result-xlsx').hidden = String(data.type) !== '2';
  if (String(data.type) === '2' && Array.isArray(data.metadata)) {
    const head = el('tr', {}, ...data.metadata.map((column) => {
      const th = el('th', { text: column.columnName });
      th.title = column.dataType;
      return th;
    }));
    const body = rows.map((row) => el('tr', {}, ...row.map((value) => el('td', { text: value === null ? 'NULL' : String(value) }))));
    const table = el('table', { class: 'result' }, el('thead', {}, head), el('tbody', {}, ...body));
    result.replaceChildren(table);
    const shown = data.metadata.length;
    $('job-result-note').textContent = data.totalColumn > shown ? 'Showing the first ' + shown + ' of ' + data.totalColumn + ' columns.' : '';
  } else {
    result.replaceChildren(el('pre', { class: 'result', text: rows.map((row) => row.join('\t')).join('\n') }));
    $('job-result-note').textContent = '';
  }
  // Linkis's openFile does not count the pages; a full page may have a next one.
  const more = rows.length >= RESULT_PAGE_ROWS;
  $('result-pager').hidden = page === 1 && !more;
  $('result-page').textContent = 'Page ' + page;
  $('result-prev').disabled = page <= 1;
  $('result-next').disabled = !more;
  $('result-prev').onclick = () => attempt(() => openResult(path, page - 1, tab));
  $('result-next').onclick = () => attempt(() => openResult(path, page + 1, tab));
}

// ---------------------------------------------------------------------------------------------
// Submitting a job

function engineName() {
  return $('submit-engine').value.split('-')[0];
}

function fillRunTypes() {
  const select = $('submit-runtype');
  select.replaceChildren(...(RUN_TYPES[engineName()] || []).map((t) => el('option', { value: t, text: t })));
}

function addVariable(name = '', value = '') {
  const row = el('div', { class: 'variable' });
  const key = el('input', { class: 'var-name', placeholder: 'name', 'aria-label': 'variable name' });
  const val = el('input', { class: 'var-value', placeholder: 'value', 'aria-label': 'variable value' });
  key.value = name;
  val.value = value;
  const remove = el('button', { type: 'button', text: 'Remove' });
  remove.addEventListener('click', () => row.remove());
  row.append(key, ' = ', val, ' ', remove);
  $('submit-vars').append(row);
}

async function submit(event) {
  event.preventDefault();
  clearError();
  const variable = {};
  for (const row of document.querySelectorAll('#submit-vars .variable')) {
    const name = row.querySelector('.var-name').value.trim();
    if (name) {
      variable[name] = row.querySelector('.var-value').value;
    }
  }
  const creator = $('submit-creator').value.trim() || 'IDE';
  const body = {
    executionContent: { code: $('submit-code').value, runType: $('submit-runtype').value },
    params: { variable },
    labels: { engineType: $('submit-engine').value, userCreator: state.user + '-' + creator },
  };
  const data = await attempt(() => api('entrance/submit', { method: 'POST', body }));
  if (data && data.taskID !== undefined) {
    window.location.hash = '#/job/' + Number(data.taskID);
  }
}

// ---------------------------------------------------------------------------------------------
// Start-up

async function start() {
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', logout);
  $('error-close').addEventListener('click', clearError);
  $('filters').addEventListener('submit', (event) => {
    event.preventDefault();
    clearError();
    state.listPage = 1;
    showJobs();
  });
  $('jobs-prev').addEventListener('click', () => movePage(-1));
  $('jobs-next').addEventListener('click', () => movePage(1));
  $('job-kill').addEventListener('click', () => control('kill'));
  $('job-pause').addEventListener('click', () => control('pause'));
  $('job-resume').addEventListener('click', () => control('resume'));
  $('submit-engine').addEventListener('change', fillRunTypes);
  $('submit-add-var').addEventListener('click', () => addVariable());
  $('submit-form').addEventListener('submit', submit);
  window.addEventListener('hashchange', () => {
    clearError();
    route();
  });
  fillRunTypes();
  addVariable();
  try {
    loggedIn(await api('user/userInfo'));
  } catch (e) {
    if (!(e instanceof ApiError)) {
      throw e;
    }
    if (e.status !== -1) {
      showError(e.message);
    }
    state.user = null;
  }
  route();
}

start();
