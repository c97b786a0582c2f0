// Portico's web console: a client of the REST API under /api/rest_j/v1, with the browser's
// session cookie. No framework and nothing loaded from elsewhere. Job code, logs and results
// are whatever users wrote, so server data only ever reaches the page as text (textContent,
// text nodes, property values), never as markup.
//
// This file has what the whole page shares: error collection, the API call, helpers for
// building the page from text, navigation, login and start-up. jobs.js (loaded after it) has
// the views of jobs: the list, one job with its results, and the submit form. Both are
// classic scripts, so their top-level names are shared; start-up waits for both.
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

document.addEventListener('DOMContentLoaded', start);
