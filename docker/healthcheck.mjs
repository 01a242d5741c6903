// Container health check without dependencies (pnpm's strict node_modules keeps ioredis out of reach
// from here). `node docker/healthcheck.mjs http://127.0.0.1:8080/healthz`: the URL answers 2xx
// (with HEALTHCHECK_TOKEN set, sent as the bearer token: `.../readyz` needs one).
// `node docker/healthcheck.mjs redis`: REDIS_URL answers PING (AUTH first when the URL has a password).
import net from 'node:net';
import tls from 'node:tls';

const target = process.argv[2];
const fail = (why) => {
  console.error(`unhealthy: ${why}`);
  process.exit(1);
};

if (target === 'redis') {
  const url = new URL(process.env.REDIS_URL ?? fail('REDIS_URL is not set'));
  const port = Number(url.port || 6379);
  const socket =
    url.protocol === 'rediss:'
      ? tls.connect({ host: url.hostname, port, servername: url.hostname })
      : net.connect({ host: url.hostname, port });
  const command = (...args) =>
    `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
  socket.setTimeout(3_000, () => fail(`no answer from ${url.host}`));
  socket.on('error', (error) => fail(`${url.host}: ${error.message}`));
  socket.once(url.protocol === 'rediss:' ? 'secureConnect' : 'connect', () => {
    const password = decodeURIComponent(url.password);
    const username = decodeURIComponent(url.username);
    if (password) socket.write(username ? command('AUTH', username, password) : command('AUTH', password));
    socket.write(command('PING'));
  });
  let received = '';
  socket.on('data', (chunk) => {
    received += chunk.toString('utf8');
    if (received.startsWith('-')) fail(`${url.host} answered ${received.trim()}`);
    if (received.includes('+PONG')) {
      socket.end();
      process.exit(0);
    }
  });
} else if (target?.startsWith('http')) {
  // HEALTHCHECK_TOKEN (a read token): sent as the bearer token, for /readyz, which needs one.
  const token = process.env.HEALTHCHECK_TOKEN;
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  fetch(target, { headers, signal: AbortSignal.timeout(3_000) }).then(
    (response) => (response.ok ? process.exit(0) : fail(`${target} answered ${response.status}`)),
    (error) => fail(`${target}: ${error.message}`),
  );
} else {
  fail('usage: node docker/healthcheck.mjs <http-url> | redis');
}
