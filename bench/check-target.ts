// A health-check target for bench/health.ts: answers 200 to every probe and counts them.
// GET /count returns the count. Prints a JSON ready line with its port.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

let probes = 0;
const server = http.createServer((request, response) => {
  if (request.url === '/count') {
    response.end(String(probes));
    return;
  }
  probes++;
  response.end('ok');
});
server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ msg: 'check target ready', port: (server.address() as AddressInfo).port }));
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
