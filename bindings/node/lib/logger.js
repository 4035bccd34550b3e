'use strict';
// setLogger(): where this package's own messages go.  The default logger
// is silent, like @pyroscope/nodejs's, except that DEBUG=pyroscope (the
// `debug` package's switch, which the official examples set) prints them.
class NullLogger {
  info() {}
  error() {}
  trace() {}
  warn() {}
  fatal() {}
  debug() {}
}

function consoleLogger() {
  const out = (level) => (...args) => console.error(`pyroscope ${level}:`, ...args);
  return { info: out('info'), error: out('error'), trace: out('trace'), warn: out('warn'), fatal: out('fatal'), debug: out('debug') };
}

const debugOn = /(^|,)\s*pyroscope(\*|:\*)?\s*(,|$)/.test(process.env.DEBUG || '');
const holder = { logger: debugOn ? consoleLogger() : new NullLogger(), custom: false };

function setLogger(newLogger) {
  for (const m of ['error', 'warn', 'info', 'debug']) {
    if (!newLogger || typeof newLogger[m] !== 'function') {
      const e = new TypeError(`pyroscope: setLogger(logger): logger.${m} must be a function`);
      e.code = 'ERR_INVALID_ARG_TYPE';
      throw e;
    }
  }
  holder.logger = newLogger;
  holder.custom = true;
}

const logger = {
  error: (...a) => holder.logger.error(...a),
  warn: (...a) => holder.logger.warn(...a),
  info: (...a) => holder.logger.info(...a),
  debug: (...a) => holder.logger.debug(...a),
  trace: (...a) => (holder.logger.trace || holder.logger.debug)(...a),
};

module.exports = { NullLogger, setLogger, logger, holder, debugOn };
