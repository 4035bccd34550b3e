#!/usr/bin/env bash
# Ruby binding CI: installs what it needs on a fresh Debian machine, builds
# the core + the extension from the repo (in place, and as a gem that is
# built and installed), then runs the minitest suite against both.
set -euo pipefail
cd "$(dirname "$0")"
HERE=$PWD
export DEBIAN_FRONTEND=noninteractive

need=()
command -v ruby >/dev/null && [ -f "$(ruby -e 'print RbConfig::CONFIG["rubyhdrdir"]')/ruby.h" ] || need+=(ruby-dev)
command -v cmake >/dev/null || need+=(cmake)
command -v make >/dev/null && command -v gcc >/dev/null || need+=(build-essential)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v protoc-c >/dev/null || need+=(protobuf-c-compiler)
for pc in libunwind:libunwind-dev libprotobuf-c:libprotobuf-c-dev zlib:zlib1g-dev \
          libzstd:libzstd-dev; do
    pkg-config --exists "${pc%%:*}" 2>/dev/null || need+=("${pc#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "::: ruby: apt-get install ${need[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Tests: minitest; Pyroscope::Engine against Debian's Rails (railties,
# actionpack); the Gemfile switch with Bundler.
extra=()
ruby -e 'require "minitest"' 2>/dev/null || extra+=(ruby-minitest)
ruby -e 'require "rails"; require "action_controller/railtie"' 2>/dev/null || extra+=(ruby-railties)
command -v bundle >/dev/null || extra+=(bundler)
if [ ${#extra[@]} -gt 0 ]; then
    echo "::: ruby: apt-get install ${extra[*]}"
    [ ${#need[@]} -gt 0 ] || apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${extra[@]}" >/dev/null
fi
ruby -v

BUILD=$(mktemp -d /tmp/pyroscope-ruby-ci.XXXXXX)
trap 'rm -rf "$BUILD"' EXIT

echo "::: ruby: in-place build (ruby extconf.rb && make)"
(cd ext/pyroscope && make clean >/dev/null 2>&1 || true
 ruby extconf.rb >"$BUILD/extconf.log" 2>&1 \
     || { cat "$BUILD/extconf.log"; exit 1; }
 make -j2 >"$BUILD/make.log" 2>&1 || { cat "$BUILD/make.log"; exit 1; })

if [ "${RUBY_CI_BUILD_ONLY:-0}" = 1 ]; then
    exit 0
fi

echo "::: ruby: tests against the in-place build"
ruby -Itest -e 'Dir["test/test_*.rb"].sort.each { |f| require "./#{f}" }'

echo "::: ruby: gem build + gem install"
mkdir -p "$BUILD/repo/gems"
gem build pyroscope.gemspec -o "$BUILD/repo/gems/pyroscope.gem" >/dev/null
export GEM_PATH="$BUILD/gems:$(gem env gempath)" GEM_HOME="$BUILD/gems"
# The gem compiles its vendored copy of the core with CMake, as for a user.
gem install --local --no-document "$BUILD/repo/gems/pyroscope.gem"

echo "::: ruby: tests against the installed gem"
PYROSCOPE_TEST_GEM=1 ruby -Itest -e 'Dir["test/test_*.rb"].sort.each { |f| require "./#{f}" }'

echo "::: ruby: a Gemfile with gem \"pyroscope\" switches by its source line only"
bash script/gemfile_switch.sh "$BUILD/repo/gems/pyroscope.gem" "$BUILD/switch"

echo "::: ruby: benchmark (short)"
PYROSCOPE_TEST_GEM=1 ruby bench/overhead.rb --rounds 3 --seconds 1
ruby bench/heap_lock.rb --rounds 3
echo "::: ruby: ok"
