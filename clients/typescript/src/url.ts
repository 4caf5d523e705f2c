/** What goes into the `/ws` query (see docs/protocol.md, "Connecting"). */
export interface ConnectQuery {
  room: string;
  username?: string;
  session?: string;
  since?: number;
  token?: string;
  jwt?: string;
}

/**
 * The `/ws` address for `base` (the server's `http(s)://` or `ws(s)://` address, with or
 * without a path prefix) and `query`, in the scheme `scheme` asks for: `ws` to connect,
 * `http` for the plain GET that tells why an upgrade would be refused.
 */
export function socketUrl(base: string, query: ConnectQuery, scheme: 'ws' | 'http'): string {
  const url = new URL(base);
  const secure = url.protocol === 'https:' || url.protocol === 'wss:';
  url.protocol = scheme === 'ws' ? (secure ? 'wss:' : 'ws:') : secure ? 'https:' : 'http:';
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/ws`;
  const params = connectQuery(query);
  url.search = params.toString();
  url.hash = '';
  return url.toString();
}

/** The query of `/ws` (and of `/sse`, which takes the same). */
export function connectQuery(query: ConnectQuery): URLSearchParams {
  const params = new URLSearchParams({ room: query.room });
  if (query.username !== undefined) params.set('username', query.username);
  if (query.session !== undefined) params.set('session', query.session);
  if (query.since !== undefined && query.since > 0) params.set('since', String(query.since));
  if (query.token !== undefined) params.set('token', query.token);
  if (query.jwt !== undefined) params.set('jwt', query.jwt);
  return params;
}

/** The server's `http(s)://` address for `base` (given as `http(s)://` or `ws(s)://`). */
export function httpBase(base: string): URL {
  const url = new URL(base);
  const secure = url.protocol === 'https:' || url.protocol === 'wss:';
  url.protocol = secure ? 'https:' : 'http:';
  url.search = '';
  url.hash = '';
  return url;
}
