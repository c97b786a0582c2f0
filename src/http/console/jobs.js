// Portico's web console, the views of jobs: the list, one job with its log, controls and
// results, and the submit form. Uses what console.js defines (api, el, state, …); server data
// reaches the page only as text.
'use strict';

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
