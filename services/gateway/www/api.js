// The gateway's JSON API (services/gateway/API.md), as promises. A failed
// call rejects with an ApiError carrying the API's code and message.

export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status; // HTTP status, 0 when the server was not reached
    this.code = code; // the error's wire name ("not_found", "rate_limited", ...)
    this.retryAfter = retryAfter; // seconds, for rate_limited
  }
}

async function request(method, path, body) {
  const options = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin' };
  if (body !== undefined) {
    options.headers['Content-Type'] = 'application/json';
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch {
    throw new ApiError(0, 'network', 'paperbus could not be reached; check your connection and try again.');
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    // Not JSON (a proxy's error page, say): described below.
  }
  if (response.ok && data !== null) return data;
  const error = data && data.error;
  const retryAfter = Number(response.headers.get('Retry-After')) || undefined;
  if (error && typeof error.message === 'string') {
    throw new ApiError(response.status, String(error.code || 'error'), error.message, retryAfter);
  }
  throw new ApiError(response.status, 'http_' + response.status,
    `paperbus answered ${response.status} ${response.statusText || ''}`.trim() + '.', retryAfter);
}

function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(name, value);
  }
  const text = search.toString();
  return text ? '?' + text : '';
}

// An id in a path segment: old-style ids keep their slash as %2F.
const paperPath = (id) => '/api/papers/' + encodeURIComponent(id);

export const api = {
  papers: (window, date, page) => request('GET', '/api/papers' + query({ window, date, page })),
  paper: (id) => request('GET', paperPath(id)),
  similar: (id, limit = 10) => request('GET', paperPath(id) + '/similar' + query({ limit })),
  vote: (id) => request('POST', paperPath(id) + '/vote'),
  unvote: (id) => request('DELETE', paperPath(id) + '/vote'),
  search: (q, sort, page) => request('GET', '/api/search' + query({ q, sort, page })),
  subscribe: (subscription) => request('POST', '/api/subscriptions', subscription),
  signin: (email) => request('POST', '/api/signin', { email }),
  startSession: (token) => request('POST', '/api/session', { token }),
  session: () => request('GET', '/api/session'),
  signout: () => request('DELETE', '/api/session'),
};
