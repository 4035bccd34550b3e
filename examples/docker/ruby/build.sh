#!/bin/sh
# The Ruby gem (named pyroscope, like the official one) built from the
# repository and installed into GEM_HOME, and the sample app.
# SRC=<repo> APP=<out dir> GEM_HOME=<gem dir>
set -eu
SRC=${SRC:-$(cd "$(dirname "$0")/../../.." && pwd)}
APP=${APP:-/app}
mkdir -p "$APP"
cp "$SRC/examples/docker/ruby/app.rb" "$APP/"
cd "$SRC/bindings/ruby"
gem build pyroscope.gemspec -o "$APP/pyroscope.gem" >/dev/null
gem install --local --no-document "$APP/pyroscope.gem"
rm -f "$APP/pyroscope.gem"
