'use strict';
// Sample app: 75% of the CPU under endpoint=/checkout, 25% under /search.
const Pyroscope = require('pyroscope-nodejs-native');

Pyroscope.init({
  appName: process.env.PYROSCOPE_APPLICATION_NAME || 'docker.node',
  serverAddress: process.env.PYROSCOPE_SERVER_ADDRESS || 'http://pyroscope:4040',
  tags: { image: 'node' },
});
Pyroscope.start();

function burn(ms) {
  const end = process.cpuUsage().user / 1000 + ms;
  let x = 0;
  while (process.cpuUsage().user / 1000 < end) for (let i = 0; i < 1000; i++) x += i;
  return x;
}
function checkout() { return burn(300); }
function search() { return burn(100); }

const deadline = Date.now() + 1000 * Number(process.env.APP_SECONDS || 3600);
(async () => {
  while (Date.now() < deadline) {
    Pyroscope.wrapWithLabels({ endpoint: '/checkout' }, checkout);
    Pyroscope.wrapWithLabels({ endpoint: '/search' }, search);
    await new Promise((r) => setImmediate(r));
  }
  await Pyroscope.stop();
})();
