/**
 * The server's endpoints from the URL a user gives: a base URL (`http://h:8000`, the
 * endpoints are then under `/ai`) or an endpoint URL (`.../ai/stream`, `.../ai/ws`,
 * `ws://` accepted), whose prefix is then kept whatever it is.
 */

export function endpoints(url) {
  let text = String(url ?? globalThis.location?.origin ?? '').trim();
  if (!text) throw new TypeError('a server URL is required');
  const base = globalThis.location?.href;
  const parsed = new URL(text, base);
  parsed.search = '';
  parsed.hash = '';
  if (parsed.protocol === 'ws:') parsed.protocol = 'http:';
  if (parsed.protocol === 'wss:') parsed.protocol = 'https:';
  let path = parsed.pathname.replace(/\/+$/, '');
  if (path.endsWith('/stream')) path = path.slice(0, -'/stream'.length);
  else if (path.endsWith('/ws')) path = path.slice(0, -'/ws'.length);
  else path += '/ai';
  text = `${parsed.origin}${path}`;
  const ws = new URL(`${text}/ws`);
  ws.protocol = ws.protocol === 'https:' ? 'wss:' : 'ws:';
  return {
    root: text,
    stream: `${text}/stream`,
    ws: ws.href,
    wsTicket: `${text}/ws-ticket`,
    action: `${text}/action`,
    providers: `${text}/providers`,
    key: text,
  };
}

/** The bearer token of an `Authorization` header (a WebSocket trades it for a `?ticket=`). */
export function bearerToken(headers) {
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (name.toLowerCase() === 'authorization') {
      const match = /^\s*bearer\s+(.+?)\s*$/i.exec(String(value));
      if (match) return match[1];
    }
  }
  return null;
}
